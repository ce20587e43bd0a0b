/*
 * Seccomp filters per thread role (seccomp.h), built with libseccomp.
 *
 * Each role is a list of groups; a group is a list of rules, a system call
 * with at most two argument conditions (libseccomp ANDs the conditions of
 * one rule and ORs the rules of one call). What each group holds and why
 * is said beside it; the names are the kernel's (glibc 2.36 turns open(2)
 * into openat, fstat into newfstatat, pthread_create into clone3, ...).
 */
#include "host/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

#define EQ(i, v)    SCMP_CMP(i, SCMP_CMP_EQ, (scmp_datum_t)(v))
#define CLEAR(i, m) SCMP_CMP(i, SCMP_CMP_MASKED_EQ, (scmp_datum_t)(m), 0)
#define SET(i, m)   SCMP_CMP(i, SCMP_CMP_MASKED_EQ, (scmp_datum_t)(m), (scmp_datum_t)(m))

struct rule {
    const char *name;
    unsigned nargs;
    struct scmp_arg_cmp arg[2];
};

/* One rule a line reads better than what clang-format makes of it. */
/* clang-format off */
#define R(call)        {.name = #call}
#define R1(call, a)    {.name = #call, .nargs = 1, .arg = {a}}
#define R2(call, a, b) {.name = #call, .nargs = 2, .arg = {a, b}}
#define END            {.name = NULL}

/*
 * Every thread: memory (never executable: the executable mappings are
 * the emu engine's, made while a machine is built), locks, the
 * signal mask glibc sets around thread start and exit, time, stderr, the
 * kvm engine's vCPU kick (SIGUSR1) and abort()'s SIGABRT, and
 * pthread_getname_np(self) for the log file's lines.
 */
static const struct rule base[] = {
    R1(mmap, CLEAR(2, PROT_EXEC)),
    R1(mprotect, CLEAR(2, PROT_EXEC)),
    R(munmap),
    R(mremap),
    R(madvise),
    R(brk),
    R(futex),
    R(get_robust_list),
    R(set_robust_list),
    R(rt_sigprocmask),
    R(rt_sigreturn),
    R(restart_syscall),
    R(sched_yield),
    R(clock_gettime),
    R(clock_nanosleep),
    R(nanosleep),
    R(gettid),
    R(getpid),
    R(write),
    R(writev),
    R(close),
    R(newfstatat),
    R(fstat),
    R(lseek),
    R1(tgkill, EQ(2, SIGUSR1)),
    R1(tgkill, EQ(2, SIGABRT)),
    R1(prctl, EQ(0, PR_GET_NAME)),
    /* The terminal's mode restored from the SIGSYS handler (seccomp_on_kill):
     * glibc's tcsetattr reads the mode back after it sets it. */
    R1(ioctl, EQ(1, TCSETS)),
    R1(ioctl, EQ(1, TCGETS)),
    R(exit),
    R(exit_group),
    END,
};

/* Interrupts into the kvm engine's in-kernel irqchip, from any device. */
static const struct rule kvm_irq[] = {
    R1(ioctl, EQ(1, KVM_IRQ_LINE)),
    R1(ioctl, EQ(1, KVM_SIGNAL_MSI)),
    R1(ioctl, EQ(1, KVM_SET_GSI_ROUTING)),
    END,
};

/*
 * A vCPU: the engine's run and state calls (and the INIT a wake from
 * ACPI S3 gives it: kvm/state.c's vcpu_reset); device emulation on the
 * buses (console output, RDRAND and virtio-rng from getrandom, eventfd
 * signals to device threads, virtio-pci binding a queue's ioeventfd).
 */
static const struct rule vcpu[] = {
    R1(ioctl, EQ(1, KVM_RUN)),
    R1(ioctl, EQ(1, KVM_GET_REGS)),
    R1(ioctl, EQ(1, KVM_SET_REGS)),
    R1(ioctl, EQ(1, KVM_GET_SREGS)),
    R1(ioctl, EQ(1, KVM_SET_SREGS)),
    R1(ioctl, EQ(1, KVM_GET_VCPU_EVENTS)),
    R1(ioctl, EQ(1, KVM_SET_VCPU_EVENTS)),
    R1(ioctl, EQ(1, KVM_GET_MP_STATE)),
    R1(ioctl, EQ(1, KVM_SET_MP_STATE)),
    R1(ioctl, EQ(1, KVM_IOEVENTFD)),
    R1(ioctl, EQ(1, KVM_IRQFD)),
    R(getrandom),
    END,
};

/*
 * A device back end: disk images (raw, qcow2: reads, writes, flushes,
 * discards, growth), virtio-rng's getrandom (on the kvm engine its queue's
 * ioeventfd brings the request here), frames and streams (virtio-net's
 * transmit thread feeds TAP and libslirp, which may open host sockets;
 * the main thread's loop reads them and vsock's Unix sockets), the waits
 * of their loops. libslirp reads
 * /etc/resolv.conf for its DNS forwarder: files open read-only here.
 */
static const struct rule io[] = {
    R(read),
    R(readv),
    R(pread64),
    R(pwrite64),
    R(preadv),
    R(pwritev),
    R(fdatasync),
    R(fsync),
    R(fallocate),
    R(ftruncate),
    R(getrandom),
    R1(openat, CLEAR(2, O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)),
    R(poll),
    R(ppoll),
    R(epoll_wait),
    R(epoll_pwait),
    R(epoll_ctl),
    R(fcntl),
    R1(socket, EQ(0, AF_UNIX)),
    R1(socket, EQ(0, AF_INET)),
    R1(socket, EQ(0, AF_INET6)),
    R(connect),
    R(accept4),
    R(accept),
    R(bind),
    R(listen),
    R(sendto),
    R(recvfrom),
    R(sendmsg),
    R(recvmsg),
    R(setsockopt),
    R(getsockopt),
    R(getsockname),
    R(getpeername),
    R(shutdown),
    R1(ioctl, EQ(1, FIONREAD)),
    R1(ioctl, EQ(1, FIONBIO)),
    END,
};

/*
 * The API socket, on the main thread's loop: its connections, the logger
 * and metrics files it opens (PUT /logger, /metrics) and disk images it
 * opens on a drive swap (PATCH /drives), with their lock and a snapshot
 * overlay's temporary file.
 */
static const struct rule api[] = {
    R(read),
    R(pread64),
    R(pwrite64),
    R(poll),
    R(ppoll),
    R(accept4),
    R(recvfrom),
    R(sendto),
    R(openat),
    R(flock),
    R(ftruncate),
    R(fdatasync),
    R(unlink),
    R(fcntl),
    END,
};

/*
 * The main thread: the event loop (the terminal's modes, its epoll, the
 * signalfd, timerfds: the console's and the API's) and a machine's build
 * and teardown (InstanceStart after the API socket serves, --on-reboot
 * restart):
 * guest RAM as a memfd, KVM's VM, vCPUs and irqchip, TAP, libslirp's
 * forwarded ports, vsock's socket, the translator's code cache and each
 * vCPU's page of x87/SSE code (accel/emu/fpu_slot.c: the executable
 * mappings, read+exec and shared, of memfds also mapped writable), threads (clone3 fails with ENOSYS so that glibc falls back
 * to clone, whose flags a filter can see: threads only), their names and
 * their filters.
 */
static const struct rule main_thread[] = {
    R1(ioctl, EQ(1, TCGETS)),
    R1(ioctl, EQ(1, TCSETS)),
    R1(ioctl, EQ(1, TCSETSW)),
    R1(ioctl, EQ(1, TCSETSF)),
    R1(ioctl, EQ(1, TIOCGWINSZ)),
    R1(ioctl, EQ(1, KVM_GET_API_VERSION)),
    R1(ioctl, EQ(1, KVM_CREATE_VM)),
    R1(ioctl, EQ(1, KVM_GET_VCPU_MMAP_SIZE)),
    R1(ioctl, EQ(1, KVM_GET_SUPPORTED_CPUID)),
    R1(ioctl, EQ(1, KVM_CREATE_IRQCHIP)),
    R1(ioctl, EQ(1, KVM_CREATE_PIT2)),
    R1(ioctl, EQ(1, KVM_CREATE_VCPU)),
    R1(ioctl, EQ(1, KVM_SET_CPUID2)),
    R1(ioctl, EQ(1, KVM_SET_IDENTITY_MAP_ADDR)),
    R1(ioctl, EQ(1, KVM_SET_TSS_ADDR)),
    R1(ioctl, EQ(1, KVM_SET_USER_MEMORY_REGION)),
    R1(ioctl, EQ(1, SIOCGIFINDEX)), /* if_nametoindex: net/tap.c checks the name */
    R1(ioctl, EQ(1, TUNSETIFF)),
    R1(ioctl, EQ(1, TUNSETVNETHDRSZ)),
    R2(mmap, EQ(2, PROT_READ | PROT_EXEC), EQ(3, MAP_SHARED)),
    R2(mmap, EQ(2, PROT_READ | PROT_EXEC), EQ(3, MAP_SHARED | MAP_FIXED)),
    R(epoll_create1),
    R(timerfd_create),
    R(timerfd_settime),
    R(signalfd4),
    R(eventfd2),
    R(memfd_create),
    R(openat),
    R(unlink),
    R(flock),
    R(sysinfo),
    R(prlimit64),
    R(rt_sigaction),
    R1(clone, SET(0, CLONE_THREAD)),
    R(rseq),
    R(set_tid_address),
    R(seccomp),
    R1(prctl, EQ(0, PR_SET_NO_NEW_PRIVS)),
    R1(prctl, EQ(0, PR_SET_NAME)),
    END,
};

/*
 * Sanitizer builds only (-Db_sanitize, meson defines VX86_SANITIZERS):
 * what the ASan, UBSan and LeakSanitizer runtimes call on their own, in
 * any thread: an alternate signal stack per thread, /proc/self/maps and
 * the like read with open(2), LeakSanitizer's check at exit (a tracer
 * made with clone(2) without CLONE_THREAD, which attaches to every thread
 * with ptrace and lists /proc/self/task), a report's symbolizer (a child
 * process; its execve fails with EPERM, see build_and_load, so that the
 * report comes out unsymbolized rather than not at all).
 */
static const struct rule sanitizer[] = {
#ifdef VX86_SANITIZERS
    R(sigaltstack),
    R(rt_sigaction),
    R(sched_getaffinity),
    R(open),
    R(openat),
    R(read),
    R(pread64),
    R(readlink),
    R(readlinkat),
    R(getdents),
    R(getdents64),
    R(getppid),
    R(clone),
    R(fork),
    R(vfork),
    R(wait4),
    R(ptrace),
    R(prctl),
    R(process_vm_readv),
    R(pipe),
    R(pipe2),
    R(dup2),
    R(dup3),
    R(kill),
    R(tgkill),
    R(uname),
    R(getrlimit),
    R(prlimit64),
#endif
    END,
};

#define GROUPS_MAX 7

static const struct rule *const roles[SECCOMP_NR_ROLES][GROUPS_MAX] = {
    [SECCOMP_VCPU] = {base, kvm_irq, vcpu, sanitizer},
    [SECCOMP_IO] = {base, kvm_irq, io, sanitizer},
    /* What the threads it starts need, too: they inherit its filter; and
     * the API socket's calls. */
    [SECCOMP_MAIN] = {base, kvm_irq, main_thread, vcpu, io, api, sanitizer},
};

/* clang-format on */

static const char *const role_names[SECCOMP_NR_ROLES] = {
    [SECCOMP_MAIN] = "main",
    [SECCOMP_VCPU] = "vcpu",
    [SECCOMP_IO] = "io",
};

static bool enabled;
static void (*volatile on_kill)(void);
/* The calling thread's role, for the SIGSYS handler; -1: none yet. */
static _Thread_local int thread_role = -1;

/* Syscall names by number for the handler, which cannot call libseccomp
 * (it allocates); filled once, before the first filter. */
#define NAMED_SYSCALLS 512
static char *syscall_names[NAMED_SYSCALLS];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_err;

#define MSG_MAX 160

static size_t put(char *buf, size_t at, const char *s)
{
    while (*s && at < MSG_MAX)
        buf[at++] = *s++;
    return at;
}

/* Async-signal-safe: writes the one line, ends the process. */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
    char buf[MSG_MAX], num[24];
    int nr = si->si_syscall, i = sizeof(num) - 1;
    size_t n = 0;
    unsigned v = nr < 0 ? 0 : (unsigned)nr;

    (void)sig;
    (void)uc;
    num[i] = '\0';
    do
        num[--i] = (char)('0' + v % 10);
    while ((v /= 10) && i > 0);
    n = put(buf, n, "vx86: seccomp: thread ");
    n = put(buf, n, thread_role >= 0 ? role_names[thread_role] : "unknown");
    n = put(buf, n, " made forbidden syscall ");
    n = put(buf, n, nr >= 0 && nr < NAMED_SYSCALLS && syscall_names[nr] ? syscall_names[nr] : "?");
    n = put(buf, n, " (");
    n = put(buf, n, num + i);
    n = put(buf, n, ")\n");
    while (write(STDERR_FILENO, buf, n) < 0 && errno == EINTR)
        ;
    if (on_kill)
        on_kill();
    /* Not _exit(), which a sanitizer runtime intercepts to check for
     * leaks first. */
    syscall(SYS_exit_group, SECCOMP_EXIT_STATUS);
}

void seccomp_on_kill(void (*fn)(void))
{
    on_kill = fn;
}

static void setup_once(void)
{
    struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};

    for (int nr = 0; nr < NAMED_SYSCALLS; nr++)
        syscall_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    sigfillset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) < 0)
        once_err = -errno;
}

int seccomp_enable(void)
{
    /* EINVAL: a kernel built without CONFIG_SECCOMP_FILTER. */
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0)
        return -errno;
    if (seccomp_api_get() < 1)
        return -ENOSYS;
    enabled = true;
    return 0;
}

static int add_rules(scmp_filter_ctx ctx, const struct rule *r)
{
    for (; r->name; r++) {
        int nr = seccomp_syscall_resolve_name(r->name);
        int err;

        if (nr == __NR_SCMP_ERROR)
            return -EINVAL;
        err = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, r->nargs, r->arg);
        if (err)
            return err;
    }
    return 0;
}

static int build_and_load(enum seccomp_role role)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
    int err = 0;

    if (!ctx)
        return -ENOMEM;
    for (int g = 0; g < GROUPS_MAX && roles[role][g] && !err; g++)
        err = add_rules(ctx, roles[role][g]);
    /* glibc falls back from clone3, whose flags sit in memory a filter
     * cannot read, to clone on ENOSYS. */
    if (!err)
        err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
#ifdef VX86_SANITIZERS
    if (!err)
        err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(execve), 0);
#endif
    if (!err)
        err = seccomp_load(ctx);
    seccomp_release(ctx);
    return err;
}

void seccomp_apply(enum seccomp_role role)
{
    sigset_t sys;
    int err;

    if (!enabled || thread_role == (int)role)
        return;
    pthread_once(&once, setup_once);
    /* glibc reads /etc/localtime at its first gmtime_r: now, not under a
     * filter that forbids opening files. */
    tzset();
    /* Device threads start with every signal blocked; a blocked SIGSYS
     * would kill the process without the handler's line. */
    sigemptyset(&sys);
    sigaddset(&sys, SIGSYS);
    err = once_err ? once_err : -pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
    if (!err)
        err = build_and_load(role);
    if (err) {
        log_err("seccomp: cannot install the %s thread's filter: %s (--no-seccomp runs "
                "without filters)",
                role_names[role], strerror(-err));
        _exit(10);
    }
    thread_role = (int)role;
}
