/*
 * user_regs.S: the entry point of user_regs and a syscall register probe.
 *
 * _start (built with -nostartfiles) records every register exactly as the
 * kernel left it at execve, into entry_state (layout in user_regs.c), then
 * hands over to musl: __libc_start_main(main, argc, argv, 0, 0, 0).
 *
 * syscall_probe(uint64_t out[18], long nr): loads known patterns into every
 * general register, runs `syscall` with rax = nr, and stores what came back.
 *   out[0..14]  rax rbx rcx rdx rsi rdi rbp r8 r9 r10 r11 r12 r13 r14 r15
 *   out[15]     rflags after the syscall
 *   out[16]     rflags just before it
 * syscall_probe_return is the address right after the syscall instruction.
 * Clobbers: rax, rcx, rdx, rsi, rdi, r8-r11 (caller-saved); callee-saved kept.
 */
	.text
	.globl _start
	.type _start, @function
_start:
	mov %rax, entry_state+0(%rip)
	mov %rbx, entry_state+8(%rip)
	mov %rcx, entry_state+16(%rip)
	mov %rdx, entry_state+24(%rip)
	mov %rsi, entry_state+32(%rip)
	mov %rdi, entry_state+40(%rip)
	mov %rbp, entry_state+48(%rip)
	mov %r8, entry_state+56(%rip)
	mov %r9, entry_state+64(%rip)
	mov %r10, entry_state+72(%rip)
	mov %r11, entry_state+80(%rip)
	mov %r12, entry_state+88(%rip)
	mov %r13, entry_state+96(%rip)
	mov %r14, entry_state+104(%rip)
	mov %r15, entry_state+112(%rip)
	mov %rsp, entry_state+120(%rip)
	pushfq
	popq entry_state+128(%rip)
	mov %cs, %rax
	mov %rax, entry_state+136(%rip)
	mov %ss, %rax
	mov %rax, entry_state+144(%rip)
	mov %ds, %rax
	mov %rax, entry_state+152(%rip)
	mov %es, %rax
	mov %rax, entry_state+160(%rip)
	mov %fs, %rax
	mov %rax, entry_state+168(%rip)
	mov %gs, %rax
	mov %rax, entry_state+176(%rip)
	stmxcsr entry_state+184(%rip)
	fnstcw entry_state+188(%rip)
	movdqu %xmm0, entry_state+192(%rip)
	movdqu %xmm1, entry_state+208(%rip)
	movdqu %xmm2, entry_state+224(%rip)
	movdqu %xmm3, entry_state+240(%rip)
	movdqu %xmm4, entry_state+256(%rip)
	movdqu %xmm5, entry_state+272(%rip)
	movdqu %xmm6, entry_state+288(%rip)
	movdqu %xmm7, entry_state+304(%rip)
	movdqu %xmm8, entry_state+320(%rip)
	movdqu %xmm9, entry_state+336(%rip)
	movdqu %xmm10, entry_state+352(%rip)
	movdqu %xmm11, entry_state+368(%rip)
	movdqu %xmm12, entry_state+384(%rip)
	movdqu %xmm13, entry_state+400(%rip)
	movdqu %xmm14, entry_state+416(%rip)
	movdqu %xmm15, entry_state+432(%rip)
	fnstsw entry_state+448(%rip)
	xor %ebp, %ebp
	mov (%rsp), %rsi
	lea 8(%rsp), %rdx
	lea main(%rip), %rdi
	xor %ecx, %ecx
	xor %r8d, %r8d
	xor %r9d, %r9d
	and $-16, %rsp
	call __libc_start_main
	hlt
	.size _start, .-_start

	.globl syscall_probe
	.globl syscall_probe_return
	.type syscall_probe, @function
syscall_probe:
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	push %rdi
	pushfq
	popq 128(%rdi)
	mov %rsi, %rax
	movabs $0x1111111111111111, %rbx
	movabs $0x2222222222222222, %rcx
	movabs $0x3333333333333333, %rdx
	movabs $0x4444444444444444, %rsi
	movabs $0x5555555555555555, %rdi
	movabs $0x6666666666666666, %rbp
	movabs $0x7777777777777777, %r8
	movabs $0x8888888888888888, %r9
	movabs $0x9999999999999999, %r10
	movabs $0xaaaaaaaaaaaaaaaa, %r11
	movabs $0xbbbbbbbbbbbbbbbb, %r12
	movabs $0xcccccccccccccccc, %r13
	movabs $0xdddddddddddddddd, %r14
	movabs $0xeeeeeeeeeeeeeeee, %r15
	syscall
syscall_probe_return:
	xchg %rdi, (%rsp)
	mov %rax, 0(%rdi)
	mov %rbx, 8(%rdi)
	mov %rcx, 16(%rdi)
	mov %rdx, 24(%rdi)
	mov %rsi, 32(%rdi)
	mov (%rsp), %rax
	mov %rax, 40(%rdi)
	mov %rbp, 48(%rdi)
	mov %r8, 56(%rdi)
	mov %r9, 64(%rdi)
	mov %r10, 72(%rdi)
	mov %r11, 80(%rdi)
	mov %r12, 88(%rdi)
	mov %r13, 96(%rdi)
	mov %r14, 104(%rdi)
	mov %r15, 112(%rdi)
	pushfq
	popq 120(%rdi)
	pop %rdi
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret
	.size syscall_probe, .-syscall_probe

	.section .note.GNU-stack, "", @progbits
