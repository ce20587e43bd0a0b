/*
 * Seccomp filters per thread role, as Firecracker has: each thread vx86
 * starts calls seccomp_apply with its role first thing, and from then on
 * the kernel lets it make only the system calls (and, where cheap, the
 * argument values: ioctl numbers, socket families, no executable memory)
 * that its role needs. A thread type that is not listed here must pick a
 * role before it may be started.
 *
 * A forbidden call never runs: the kernel sends SIGSYS, whose handler
 * writes one line, "vx86: seccomp: thread ROLE made forbidden syscall NAME
 * (NR)", to stderr and ends the process with SECCOMP_EXIT_STATUS.
 *
 * Filters are inherited: a thread started by a filtered thread runs under
 * its creator's filter and its own, the stricter of both. The main thread
 * takes its filter once its first machine runs (vm_run), or with
 * --api-sock once it serves the API socket, before the first machine is
 * built; since it builds machines afterwards (InstanceStart, --on-reboot
 * restart), its role allows what building one and the threads it starts
 * need. Every thread but main is started by util/thread.h, which applies
 * its role.
 *
 * Filters are off until seccomp_enable (vx86's main calls it unless
 * --no-seccomp), so that unit tests and fuzzers that start device threads
 * run unconfined.
 */
#ifndef VX86_HOST_SECCOMP_H
#define VX86_HOST_SECCOMP_H

/* Firecracker's exit status for a bad system call (FcExitCode::BadSyscall). */
#define SECCOMP_EXIT_STATUS 148

enum seccomp_role {
    SECCOMP_MAIN, /* main: the event loop (console, signals, API socket), builds machines */
    SECCOMP_VCPU, /* a vCPU thread, either engine */
    SECCOMP_IO,   /* a device back end's thread: virtio-blk, virtio-net TX, ioevent */
    SECCOMP_NR_ROLES
};

/*
 * Turns filters on for the seccomp_apply calls that follow: call before
 * the first thread starts. 0, or -errno when this kernel has no seccomp
 * filters (then --no-seccomp is the way to run).
 */
int seccomp_enable(void);

/*
 * Installs role's filter on the calling thread (once: a second call with
 * the role the thread has is a no-op) and the SIGSYS handler (once per
 * process); a no-op while filters are off. Where libseccomp or the kernel
 * refuses, it says why and ends the process with status 10 (a host
 * failure, as VX86_EHOST): no thread runs on unconfined by mistake.
 */
void seccomp_apply(enum seccomp_role role);

/*
 * fn runs in the SIGSYS handler, on the thread that made the forbidden
 * call, before the process ends: the console puts the terminal back in
 * the mode it found it in. fn must be async-signal-safe and may make only
 * the calls every role allows (ioctl TCSETS and TCGETS: tcsetattr).
 * NULL: none. Any thread, any time.
 */
void seccomp_on_kill(void (*fn)(void));

#endif
