/*
 * The trampolines that run one guest x87/MMX/SSE instruction on the host,
 * in a slot fpu_slot.c built:
 *
 *   void fpu_stub_enter(struct host_ctx *ctx);        (System V: ctx in %rdi)
 *   void fpu_stub_enter_sse(struct host_ctx *ctx);
 *
 * fpu_stub_enter loads the guest's FXSAVE64 image (ctx->image) with its x87
 * exception flags cleared (FNCLEX) and MXCSR ctx->mxcsr; the slot ends at
 * fpu_stub_exit, which stores the state (ctx->fx) and gives the host its
 * own back. fpu_stub_enter_sse leaves the FPU/SSE state alone: its slot
 * loads and stores MXCSR and XMM registers itself and ends at
 * fpu_stub_exit_sse, which restores the host's MXCSR.
 *
 * Both load RFLAGS and every guest GPR but RSP from ctx before the slot and
 * store them back after it. RSP is never loaded: the host stack stays valid
 * throughout, so a signal may arrive at any point. Of the host's FPU/SSE
 * state only what the System V ABI has callees preserve is kept: the MXCSR
 * and x87 control words and an empty x87 stack (FNINIT). XMM registers are
 * caller-saved, and the caller is C.
 *
 * Offsets: struct host_ctx in fpu_host.c, checked there with static asserts.
 */
#ifdef __CET__
#include <cet.h>
#endif
#ifndef _CET_ENDBR
#define _CET_ENDBR
#endif

#define CTX_RFLAGS     128
#define CTX_SLOT       136
#define CTX_IMAGE      144
#define CTX_MXCSR      152
#define CTX_HOST_MXCSR 156
#define CTX_HOST_FCW   160
#define CTX_FX         192

/* Pushes the callee-saved registers and keeps the host MXCSR. */
.macro save_host
        push    %rbx
        push    %rbp
        push    %r12
        push    %r13
        push    %r14
        push    %r15
        stmxcsr CTX_HOST_MXCSR(%rdi)
.endm

/* Loads the guest's RFLAGS and GPRs and jumps to the slot; while it runs
 * the slot's address is at (%rsp) and ctx at 8(%rsp). */
.macro enter_slot
        push    %rdi
        pushq   CTX_SLOT(%rdi)
        pushq   CTX_RFLAGS(%rdi)
        popfq
        mov     0(%rdi), %rax
        mov     8(%rdi), %rcx
        mov     16(%rdi), %rdx
        mov     24(%rdi), %rbx
        mov     40(%rdi), %rbp
        mov     48(%rdi), %rsi
        mov     64(%rdi), %r8
        mov     72(%rdi), %r9
        mov     80(%rdi), %r10
        mov     88(%rdi), %r11
        mov     96(%rdi), %r12
        mov     104(%rdi), %r13
        mov     112(%rdi), %r14
        mov     120(%rdi), %r15
        mov     56(%rdi), %rdi
        jmp     *(%rsp)
.endm

/* Stores the guest's GPRs and RFLAGS into ctx, left in %rdi. */
.macro leave_slot
        pushfq
        push    %rdi
        mov     24(%rsp), %rdi          /* guest rdi, rflags, slot, ctx */
        mov     %rax, 0(%rdi)
        mov     %rcx, 8(%rdi)
        mov     %rdx, 16(%rdi)
        mov     %rbx, 24(%rdi)
        mov     %rbp, 40(%rdi)
        mov     %rsi, 48(%rdi)
        mov     %r8, 64(%rdi)
        mov     %r9, 72(%rdi)
        mov     %r10, 80(%rdi)
        mov     %r11, 88(%rdi)
        mov     %r12, 96(%rdi)
        mov     %r13, 104(%rdi)
        mov     %r14, 112(%rdi)
        mov     %r15, 120(%rdi)
        popq    56(%rdi)
        popq    CTX_RFLAGS(%rdi)
.endm

/* Restores the host MXCSR and the callee-saved registers, and returns. */
.macro return_host
        ldmxcsr CTX_HOST_MXCSR(%rdi)
        add     $16, %rsp               /* slot, ctx */
        pop     %r15
        pop     %r14
        pop     %r13
        pop     %r12
        pop     %rbp
        pop     %rbx
        ret
.endm

        .text
        .globl  fpu_stub_enter
        .type   fpu_stub_enter, @function
fpu_stub_enter:
        _CET_ENDBR
        save_host
        fnstcw  CTX_HOST_FCW(%rdi)
        mov     CTX_IMAGE(%rdi), %rax
        fxrstor64 (%rax)
        fnclex
        ldmxcsr CTX_MXCSR(%rdi)
        enter_slot
        .size   fpu_stub_enter, . - fpu_stub_enter

        .globl  fpu_stub_exit
        .type   fpu_stub_exit, @function
fpu_stub_exit:
        _CET_ENDBR
        leave_slot
        fxsave64 CTX_FX(%rdi)
        fninit
        fldcw   CTX_HOST_FCW(%rdi)
        return_host
        .size   fpu_stub_exit, . - fpu_stub_exit

        .globl  fpu_stub_enter_sse
        .type   fpu_stub_enter_sse, @function
fpu_stub_enter_sse:
        _CET_ENDBR
        save_host
        enter_slot
        .size   fpu_stub_enter_sse, . - fpu_stub_enter_sse

        .globl  fpu_stub_exit_sse
        .type   fpu_stub_exit_sse, @function
fpu_stub_exit_sse:
        _CET_ENDBR
        leave_slot
        return_host
        .size   fpu_stub_exit_sse, . - fpu_stub_exit_sse

        .section .note.GNU-stack, "", @progbits
