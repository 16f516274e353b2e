; The application-processor trampoline: where an AP starts after INIT-SIPI-SIPI,
; in 16-bit real mode at physical TRAMPOLINE_PHYS (the SIPI vector is its page
; number). arch/x86_64/smp.c copies trampoline_start..trampoline_end there, fills
; in the parameter block, and identity-maps that page while APs start.
;
; A CPU may arrive late (SMM, microcode loading, a slow hypervisor), after smp.c
; gave up on it and moved on to the next CPU with new parameters. So before it
; touches anything of the kernel's, the AP claims its slot in 32-bit mode (paging
; off, so the write reaches the page): a locked compare-exchange of `claim` from
; its own APIC ID to CLAIM_ARRIVED. smp.c, when it gives up, swaps the same word
; from that APIC ID to CLAIM_ABANDONED. Exactly one side wins. A loser AP (given
; up on, or a stray whose ID is not the one expected now) halts here, before
; paging, the stack or the kernel; smp.c also parks it with INIT.
;
; It goes 16-bit -> 32-bit protected mode -> 64-bit long mode with the kernel's
; own page tables (their root must lie below 4 GiB: CR3 is loaded from 32-bit
; code), sets the AP's stack and jumps to smp_ap_entry(cpu) in the higher half.
; Every address is computed as an offset from trampoline_start plus
; TRAMPOLINE_PHYS, since the code runs from the copy, not from where it is linked.

TRAMPOLINE_PHYS     equ 0x8000
%define AT(label)   ((label) - trampoline_start + TRAMPOLINE_PHYS)

CR0_PE              equ 1 << 0
CR0_NE              equ 1 << 5
CR0_WP              equ 1 << 16
CR0_PG              equ 1 << 31
CR4_PAE             equ 1 << 5
MSR_EFER            equ 0xc0000080
EFER_LME            equ 1 << 8
EFER_NXE            equ 1 << 11

CLAIM_ARRIVED       equ 0xffffffff
CPUID_LEAF_X2APIC   equ 0x0b

SEL_CODE32          equ 0x08
SEL_DATA            equ 0x10
SEL_CODE64          equ 0x18

section .rodata
align 16
global trampoline_start, trampoline_end, trampoline_params

bits 16
trampoline_start:
    cli
    cld
    xor ax, ax
    mov ds, ax
    lgdt [AT(trampoline_gdtr)]
    mov eax, cr0
    or eax, CR0_PE
    mov cr0, eax
    jmp dword SEL_CODE32:AT(.protected)

bits 32
.protected:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    ; ebx = this CPU's APIC ID: the x2APIC ID of CPUID leaf 0xb when the CPU has
    ; that leaf, else the 8-bit initial APIC ID of leaf 1. (No stack yet: inline.)
    xor eax, eax
    cpuid
    cmp eax, CPUID_LEAF_X2APIC
    jb .apic_id_leaf1
    mov eax, CPUID_LEAF_X2APIC
    xor ecx, ecx
    cpuid
    test ebx, ebx                           ; no logical processors: leaf unused
    jz .apic_id_leaf1
    mov ebx, edx
    jmp .delay
.apic_id_leaf1:
    mov eax, 1
    cpuid
    shr ebx, 24
.delay:                                     ; a test may ask one CPU to be late
    mov esi, [AT(trampoline_params.late_apic_id)]
    cmp esi, ebx
    jne .claim
    rdtsc
    cmp edx, [AT(trampoline_params.late_until_tsc) + 4]
    jb .delay_more
    ja .claim
    cmp eax, [AT(trampoline_params.late_until_tsc)]
    jae .claim
.delay_more:
    pause
    jmp .delay
.claim:
    mov eax, ebx
    mov ecx, CLAIM_ARRIVED
    lock cmpxchg [AT(trampoline_params.claim)], ecx
    jne .park                               ; not ours: given up on, or a stray
    mov eax, cr4
    or eax, CR4_PAE
    mov cr4, eax
    mov eax, [AT(trampoline_params.cr3)]
    mov cr3, eax
    mov ecx, MSR_EFER
    rdmsr
    or eax, EFER_LME | EFER_NXE
    wrmsr
    mov eax, cr0
    or eax, CR0_PG | CR0_WP | CR0_NE
    mov cr0, eax                            ; paging on: this page is identity-mapped
    jmp SEL_CODE64:AT(.long)

; Halts for good with interrupts off, touching nothing (NMIs are not expected:
; smp.c sends INIT, which holds the CPU in wait-for-SIPI).
.park:
    cli
    hlt
    jmp .park


bits 64
.long:
    xor eax, eax                            ; data segments are unused in long mode
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov rsp, [abs AT(trampoline_params.stack_top)]
    mov rdi, [abs AT(trampoline_params.cpu)]
    mov rax, [abs AT(trampoline_params.entry)]
    xor ebp, ebp                            ; ends backtraces
    jmp rax                                 ; smp_ap_entry(cpu), never returns

; Every descriptor has its accessed bit set already: otherwise loading it makes
; the CPU write that bit into the table, and this page is mapped read-only once
; paging is on (with CR0.WP, the far jump to 64-bit code would fault, and with
; no IDT yet that is a triple fault; TCG does not model the write, KVM does).
align 8
trampoline_gdt:
    dq 0
    dq 0x00cf9b000000ffff                   ; 0x08: 32-bit code, flat
    dq 0x00cf93000000ffff                   ; 0x10: data, flat
    dq 0x00af9b000000ffff                   ; 0x18: 64-bit code
trampoline_gdtr:
    dw trampoline_gdtr - trampoline_gdt - 1
    dd AT(trampoline_gdt)

; Filled in by smp.c for each AP (layout: struct trampoline_params).
align 8
trampoline_params:
.cr3:       dq 0
.stack_top: dq 0
.entry:     dq 0
.cpu:       dq 0
.late_until_tsc: dq 0                       ; CPU late_apic_id waits until this TSC
.late_apic_id:   dd 0xffffffff               ; none
.claim:     dd 0xfffffffe                   ; the APIC ID expected now, or a CLAIM_*
trampoline_end:

section .note.GNU-stack noalloc noexec nowrite progbits
