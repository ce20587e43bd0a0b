/*
 * Linked into fuzz_emu and fuzz_jit by scripts/fuzz-run (ASan builds) in
 * place of sigaltstack(2) for the ASan runtime's sake: before every call
 * of a noreturn function and every longjmp, and the emu engine raises each
 * guest exception that way, ASan asks sigaltstack where the thread's
 * alternate signal stack is. That system call was 190 a fuzz_jit input
 * (several microseconds each on a virtualized host). Here a query is
 * answered from the last stack set in this thread, as the kernel would
 * answer it: SS_ONSTACK when the caller runs on it, SS_DISABLE when none
 * is set. Setting one still goes to the kernel (the linker's
 * --wrap=sigaltstack sends the ASan runtime's calls here).
 */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

int __real_sigaltstack(const stack_t *ss, stack_t *old);
int __wrap_sigaltstack(const stack_t *ss, stack_t *old);

static _Thread_local bool known;
static _Thread_local stack_t current;

int __wrap_sigaltstack(const stack_t *ss, stack_t *old)
{
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0), lo = (uintptr_t)current.ss_sp;

    if (ss || !known) {
        /* The kernel's answer, then what it holds now. */
        int r = __real_sigaltstack(ss, old);

        /* Not learnt on the stack itself: the flags would say so. */
        if (r == 0 && __real_sigaltstack(NULL, &current) == 0)
            known = !(current.ss_flags & SS_ONSTACK);
        return r;
    }
    if (old) {
        *old = current;
        /* The kernel's on_sig_stack(). */
        if (!(current.ss_flags & SS_DISABLE) && sp > lo && sp - lo <= current.ss_size)
            old->ss_flags |= SS_ONSTACK;
    }
    return 0;
}
