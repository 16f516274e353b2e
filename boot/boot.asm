; Exo's first instructions: the Multiboot2 header, the PVH note, and the 32-bit
; entries that check the CPU, build early page tables and enter long mode.
;
; Two loaders reach us, both in 32-bit protected mode with paging off:
;   Multiboot2 (GRUB):  EAX = 0x36d76289, EBX = physical address of the boot info
;   PVH (QEMU -kernel): EBX = physical address of struct hvm_start_info
; Both continue at common_entry32 with
;   EBP = boot protocol (1 Multiboot2, 2 PVH), ESI = info address, EDI = magic.
; A missing CPU feature or a bad magic prints a sentence on COM1 (and on VGA text
; where there is one) and halts: never a triple fault.
;
; Early page tables (all 2 MiB pages, in .bss):
;   0x0000000000000000 + 4 GiB   identity      (the 32->64 switch, boot info reads)
;   0xffff800000000000 + 4 GiB   direct map    (DIRECT_MAP_BASE, arch/x86_64/layout.h)
;   0xffffffff80000000 + 1 GiB   kernel image  (KERNEL_VMA)
; The memory manager replaces all of them with its own tables.

KERNEL_VMA          equ 0xffffffff80000000
MB2_HEADER_MAGIC    equ 0xe85250d6
MB2_LOADER_MAGIC    equ 0x36d76289
PVH_START_MAGIC     equ 0x336ec578
PROTO_MULTIBOOT2    equ 1
PROTO_PVH           equ 2
COM1                equ 0x3f8
VGA_TEXT            equ 0xb8000

PTE_PRESENT         equ 1 << 0
PTE_WRITE           equ 1 << 1
PTE_HUGE            equ 1 << 7

CR0_PG              equ 1 << 31
CR0_WP              equ 1 << 16
CR0_NE              equ 1 << 5      ; x87 errors as exceptions; VMX requires it
CR4_PAE             equ 1 << 5
MSR_EFER            equ 0xc0000080
EFER_LME            equ 1 << 8
EFER_NXE            equ 1 << 11

CPUID_EXT_LM        equ 1 << 29     ; CPUID 0x80000001 EDX
CPUID_EXT_NX        equ 1 << 20     ; CPUID 0x80000001 EDX
EFLAGS_ID           equ 1 << 21

extern kernel_main
extern __bss_start
extern __bss_end

; ---------------------------------------------------------------------------
section .multiboot2
align 8
mb2_header:
    dd MB2_HEADER_MAGIC
    dd 0                                    ; architecture: i386 protected mode
    dd mb2_header_end - mb2_header
    dd 0x100000000 - (MB2_HEADER_MAGIC + 0 + (mb2_header_end - mb2_header))
    align 8
    ; Framebuffer request, marked optional (flags bit 0): 0 x 0 x 0 means "no
    ; preference", so GRUB keeps what the firmware set up (GOP on UEFI).
    dw 5, 1
    dd 20
    dd 0, 0, 32
    align 8
    dw 0, 0                                 ; end tag
    dd 8
mb2_header_end:

; ---------------------------------------------------------------------------
; XEN_ELFNOTE_PHYS32_ENTRY (18): QEMU's -kernel loader starts PVH kernels here.
; QEMU reads the descriptor as a 64-bit value, so it is a dq.
section .note.Xen note alloc noexec nowrite align=4
    dd 4                                    ; name size ("Xen\0")
    dd 8                                    ; descriptor size
    dd 18                                   ; type
    db "Xen", 0
    dq boot_entry_pvh

; ---------------------------------------------------------------------------
section .boot.text progbits alloc exec nowrite align=16
bits 32

global boot_entry_multiboot2
boot_entry_multiboot2:
    cli
    cld
    mov edi, eax
    mov esi, ebx
    mov ebp, PROTO_MULTIBOOT2
    jmp common_entry32

global boot_entry_pvh
boot_entry_pvh:
    cli
    cld
    mov esi, ebx
    mov edi, [ebx]                          ; PVH keeps its magic in the structure
    mov ebp, PROTO_PVH
    ; fall through

common_entry32:
    mov esp, boot_stack_top - KERNEL_VMA    ; physical address of the boot stack
    call serial_init32

    mov eax, edi
    cmp ebp, PROTO_PVH
    je .check_pvh_magic
    cmp eax, MB2_LOADER_MAGIC
    jne .bad_magic
    jmp .check_cpu
.check_pvh_magic:
    cmp eax, PVH_START_MAGIC
    jne .bad_magic

.check_cpu:
    ; CPUID exists if EFLAGS.ID can be toggled.
    pushfd
    pop eax
    mov ecx, eax
    xor eax, EFLAGS_ID
    push eax
    popfd
    pushfd
    pop eax
    push ecx
    popfd
    cmp eax, ecx
    je .no_cpuid

    mov eax, 0x80000000                     ; highest extended leaf
    cpuid
    cmp eax, 0x80000001
    jb .no_long_mode
    mov eax, 0x80000001
    cpuid
    test edx, CPUID_EXT_LM
    jz .no_long_mode
    test edx, CPUID_EXT_NX
    jz .no_nx

    ; The rest of the kernel is compiled for the x86_64 baseline (the compiler
    ; emits CMOV, for one) and uses the TSC and the local APIC: check each
    ; feature, so that a CPU without one gets a message instead of a triple fault
    ; at its first use. Nothing before this point is compiled code.
    mov eax, 1
    cpuid
    push esi                                ; the info address: kept for later
    mov esi, baseline_features
.next_feature:
    mov eax, [esi]                          ; the feature's bit in CPUID 1 EDX
    test eax, eax
    jz .features_ok
    mov ebx, [esi + 4]                      ; its message
    add esi, 8
    test edx, eax
    jnz .next_feature
    pop esi
    jmp boot_fail32
.features_ok:
    pop esi

    call zero_bss32
    call build_page_tables32

    mov eax, cr4
    or eax, CR4_PAE
    mov cr4, eax
    mov eax, boot_pml4 - KERNEL_VMA
    mov cr3, eax
    mov ecx, MSR_EFER
    rdmsr
    or eax, EFER_LME | EFER_NXE
    wrmsr
    mov eax, cr0
    or eax, CR0_PG | CR0_WP | CR0_NE
    mov cr0, eax                            ; now in compatibility mode

    lgdt [boot_gdt_pointer]
    jmp BOOT_CODE_SELECTOR:long_mode_entry

.bad_magic:
    mov ebx, msg_bad_magic
    jmp boot_fail32
.no_cpuid:
    mov ebx, msg_no_cpuid
    jmp boot_fail32
.no_long_mode:
    mov ebx, msg_no_long_mode
    jmp boot_fail32
.no_nx:
    mov ebx, msg_no_nx
    jmp boot_fail32

; Zero .bss (the loaders zero it too, but the page tables must not depend on it).
; The boot stack lives in .bss: only its top few bytes are in use here (our own
; return address), so this routine zeroes everything but the stack's top 16 bytes.
zero_bss32:
    push edi
    mov edi, __bss_start - KERNEL_VMA
    mov ecx, boot_stack_top - KERNEL_VMA - 16
    sub ecx, edi
    shr ecx, 2
    xor eax, eax
    rep stosd
    mov edi, boot_stack_top - KERNEL_VMA
    mov ecx, __bss_end - KERNEL_VMA
    sub ecx, edi
    shr ecx, 2
    rep stosd
    pop edi
    ret

; Fill the early tables described at the top of this file.
build_page_tables32:
    push edi
    ; Four page directories of 512 x 2 MiB pages: physical 0 .. 4 GiB.
    mov edi, boot_pd - KERNEL_VMA
    xor ecx, ecx                            ; ecx = index of the 2 MiB page
.next_pd_entry:
    mov eax, ecx
    shl eax, 21                             ; low 32 bits of the physical address
    or eax, PTE_PRESENT | PTE_WRITE | PTE_HUGE
    mov edx, ecx
    shr edx, 11                             ; bits 32+ of the address (index >> 11)
    mov [edi + ecx * 8], eax
    mov [edi + ecx * 8 + 4], edx
    inc ecx
    cmp ecx, 4 * 512
    jb .next_pd_entry

    ; pdpt_low[0..3] -> the four directories; shared by the identity and direct maps.
    mov edi, boot_pdpt_low - KERNEL_VMA
    mov eax, boot_pd - KERNEL_VMA
    or eax, PTE_PRESENT | PTE_WRITE
    xor ecx, ecx
.next_pdpt_entry:
    mov [edi + ecx * 8], eax
    add eax, 4096
    inc ecx
    cmp ecx, 4
    jb .next_pdpt_entry

    ; pdpt_high[510] (0xffffffff80000000) -> the first directory (physical 0..1 GiB).
    mov edi, boot_pdpt_high - KERNEL_VMA
    mov eax, boot_pd - KERNEL_VMA
    or eax, PTE_PRESENT | PTE_WRITE
    mov [edi + 510 * 8], eax

    mov edi, boot_pml4 - KERNEL_VMA
    mov eax, boot_pdpt_low - KERNEL_VMA
    or eax, PTE_PRESENT | PTE_WRITE
    mov [edi + 0 * 8], eax                  ; identity
    mov [edi + 256 * 8], eax                ; direct map at 0xffff800000000000
    mov eax, boot_pdpt_high - KERNEL_VMA
    or eax, PTE_PRESENT | PTE_WRITE
    mov [edi + 511 * 8], eax                ; kernel image
    pop edi
    ret

; 16550 at COM1: 115200 baud, 8N1, FIFOs on, interrupts off.
serial_init32:
    mov dx, COM1 + 1
    xor al, al
    out dx, al                              ; IER: no interrupts
    mov dx, COM1 + 3
    mov al, 0x80
    out dx, al                              ; LCR: DLAB on
    mov dx, COM1 + 0
    mov al, 1
    out dx, al                              ; divisor low: 115200 / 1
    mov dx, COM1 + 1
    xor al, al
    out dx, al                              ; divisor high
    mov dx, COM1 + 3
    mov al, 0x03
    out dx, al                              ; LCR: 8N1, DLAB off
    mov dx, COM1 + 2
    mov al, 0xc7
    out dx, al                              ; FCR: enable and clear FIFOs
    mov dx, COM1 + 4
    mov al, 0x03
    out dx, al                              ; MCR: DTR, RTS
    ret

; Prints the NUL-terminated message at EBX on COM1 and, where the screen is in
; VGA text mode, on the screen; then halts for good.
boot_fail32:
    push esi                                ; info address, for vga_text_base32
    mov esi, ebx
.serial_next:
    lodsb
    test al, al
    jz .serial_done
    mov ah, al
    mov dx, COM1 + 5
    mov ecx, 100000                         ; bounded wait: there may be no UART
.wait_thr:
    in al, dx
    test al, 0x20                           ; LSR: transmit holding register empty
    jnz .send
    loop .wait_thr
.send:
    mov dx, COM1
    mov al, ah
    out dx, al
    jmp .serial_next
.serial_done:
    pop eax
    call vga_text_base32                    ; EAX = VGA text address or 0
    test eax, eax
    jz .halt
    mov edi, eax
    mov esi, ebx
.vga_next:
    lodsb
    test al, al
    jz .halt
    cmp al, 10
    je .vga_next
    mov ah, 0x4f                            ; white on red
    stosw
    jmp .vga_next
.halt:
    cli
    hlt
    jmp .halt

; VGA text is known to be there when PVH booted us (QEMU's legacy PC) or when the
; Multiboot2 info has a framebuffer tag of the EGA-text kind. Returns its address
; in EAX, or 0. Takes the info address in EAX; uses EBP (protocol), EDI (magic).
vga_text_base32:
    cmp ebp, PROTO_PVH
    je .legacy
    cmp edi, MB2_LOADER_MAGIC
    jne .none
    push esi
    push ecx
    mov esi, eax
    mov ecx, [esi]                          ; total_size
    cmp ecx, 16
    jb .pop_none
    add ecx, esi                            ; end of the info
    add esi, 8
.next_tag:
    lea eax, [esi + 8]
    cmp eax, ecx
    ja .pop_none
    mov eax, [esi + 4]                      ; tag size
    cmp eax, 8
    jb .pop_none
    cmp dword [esi], 0                      ; end tag
    je .pop_none
    cmp dword [esi], 8                      ; framebuffer tag
    jne .skip
    cmp eax, 31
    jb .pop_none
    cmp byte [esi + 29], 2                  ; framebuffer_type: EGA text
    jne .pop_none
    cmp dword [esi + 12], 0                 ; address above 4 GiB: not usable here
    jne .pop_none
    mov eax, [esi + 8]
    pop ecx
    pop esi
    ret
.skip:
    add eax, 7
    and eax, ~7
    add esi, eax
    jmp .next_tag
.pop_none:
    pop ecx
    pop esi
.none:
    xor eax, eax
    ret
.legacy:
    mov eax, VGA_TEXT
    ret

; ---------------------------------------------------------------------------
bits 64
long_mode_entry:
    mov ax, BOOT_DATA_SELECTOR
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    mov rsp, boot_stack_top                 ; higher-half address of the same stack
    mov rax, higher_half_entry
    jmp rax

; ---------------------------------------------------------------------------
section .boot.rodata progbits alloc noexec nowrite align=16
boot_gdt:
    dq 0                                    ; null
    dq 0x00209b0000000000                   ; 0x08: 64-bit code, ring 0 (accessed
    dq 0x0000930000000000                   ; 0x10: data, ring 0     bits preset: the
                                            ; table may be read-only when loaded)
boot_gdt_end:
BOOT_CODE_SELECTOR equ 0x08
BOOT_DATA_SELECTOR equ 0x10

boot_gdt_pointer:
    dw boot_gdt_end - boot_gdt - 1
    dd boot_gdt

msg_bad_magic:
    db "exo: boot failed: not started by a Multiboot2 or PVH loader (bad magic number)", 13, 10, 0
msg_no_cpuid:
    db "exo: boot failed: this CPU has no CPUID instruction; Exo needs an x86_64 CPU", 13, 10, 0
msg_no_long_mode:
    db "exo: boot failed: this CPU does not support 64-bit long mode; Exo needs an x86_64 CPU", 13, 10, 0
msg_no_nx:
    db "exo: boot failed: this CPU lacks the NX (no-execute) page bit, which Exo requires", 13, 10, 0

; CPUID 1 EDX bits the kernel needs, each with its message; ends with 0.
align 4
baseline_features:
    dd 1 << 0, msg_no_fpu
    dd 1 << 4, msg_no_tsc
    dd 1 << 8, msg_no_cx8
    dd 1 << 9, msg_no_apic
    dd 1 << 15, msg_no_cmov
    dd 1 << 24, msg_no_fxsr
    dd 1 << 25, msg_no_sse
    dd 1 << 26, msg_no_sse2
    dd 0
%macro BASELINE_MESSAGE 2
%1:
    db "exo: boot failed: this CPU lacks ", %2, ", which every x86_64 CPU has and Exo requires", 13, 10, 0
%endmacro
BASELINE_MESSAGE msg_no_fpu, "the x87 FPU (CPUID 1 EDX bit 0)"
BASELINE_MESSAGE msg_no_tsc, "the time-stamp counter (TSC, CPUID 1 EDX bit 4)"
BASELINE_MESSAGE msg_no_cx8, "CMPXCHG8B (CX8, CPUID 1 EDX bit 8)"
BASELINE_MESSAGE msg_no_apic, "a local APIC (CPUID 1 EDX bit 9)"
BASELINE_MESSAGE msg_no_cmov, "CMOV (CPUID 1 EDX bit 15)"
BASELINE_MESSAGE msg_no_fxsr, "FXSAVE/FXRSTOR (FXSR, CPUID 1 EDX bit 24)"
BASELINE_MESSAGE msg_no_sse, "SSE (CPUID 1 EDX bit 25)"
BASELINE_MESSAGE msg_no_sse2, "SSE2 (CPUID 1 EDX bit 26)"

; ---------------------------------------------------------------------------
section .text
; kernel_main(protocol, info_phys, magic). The upper halves of the registers are
; undefined after the switch to 64-bit mode; 32-bit moves zero them.
higher_half_entry:
    mov edx, edi                            ; magic
    mov edi, ebp                            ; protocol
    mov esi, esi                            ; info address
    xor ebp, ebp                            ; terminates the frame-pointer chain
    call kernel_main
.hang:
    cli
    hlt
    jmp .hang

; ---------------------------------------------------------------------------
section .bss
alignb 4096
boot_pml4:      resb 4096
boot_pdpt_low:  resb 4096
boot_pdpt_high: resb 4096
boot_pd:        resb 4 * 4096
alignb 16
boot_stack:     resb 16384
boot_stack_top:

section .note.GNU-stack noalloc noexec nowrite progbits
