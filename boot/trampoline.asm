; The application-processor trampoline: where an AP starts after INIT-SIPI-SIPI,
; in 16-bit real mode at physical TRAMPOLINE_PHYS (the SIPI vector is its page
; number). arch/x86_64/smp.c copies trampoline_start..trampoline_end there, fills
; in the parameter block, and identity-maps that page while APs start.
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
trampoline_end:

section .note.GNU-stack noalloc noexec nowrite progbits
