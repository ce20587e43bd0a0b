/*
 * host/seccomp.c: a thread that takes a role may make its role's calls; a
 * forbidden one ends the process with the one-line message and status
 * 148. Each case runs in a forked child, whose fate the parent reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>

#include "host/seccomp.h"

/* The child's work, on a thread of its own as vx86's are. */
struct job {
    enum seccomp_role role;
    bool filters; /* seccomp_enable first */
    void (*fn)(void);
};

static void *job_thread(void *arg)
{
    const struct job *j = arg;

    seccomp_apply(j->role);
    j->fn();
    return NULL;
}

/* Runs j in a child; its exit status, and its stderr in err. */
static int run_child(const struct job *j, char *err, size_t size)
{
    int p[2], status;
    pid_t pid;
    ssize_t n, got = 0;

    assert_int_equal(pipe(p), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sigset_t all;
        pthread_t t;

        /* As vx86 starts its device threads: SIGSYS must get through. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, NULL);
        dup2(p[1], STDERR_FILENO);
        close(p[0]);
        if (j->filters && seccomp_enable())
            _exit(99);
        if (pthread_create(&t, NULL, job_thread, (void *)j) || pthread_join(t, NULL))
            _exit(98);
        _exit(0);
    }
    close(p[1]);
    while ((n = read(p[0], err + got, size - 1 - (size_t)got)) > 0)
        got += n;
    err[got] = '\0';
    close(p[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void open_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd >= 0)
        close(fd);
}

static void vcpu_work(void)
{
    char buf[16];

    /* RDRAND's and virtio-rng's source, and console output. */
    if (getrandom(buf, sizeof(buf), GRND_NONBLOCK) != sizeof(buf))
        _exit(97);
    if (write(STDERR_FILENO, "ok\n", 3) != 3)
        _exit(96);
}

static void map_exec(void)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p != MAP_FAILED)
        munmap(p, 4096);
}

static void spawn(void)
{
    pid_t pid = fork();

    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

static void exec_true(void)
{
    char *argv[] = {"true", NULL};

    execv("/bin/true", argv);
    if (errno == EPERM && write(STDERR_FILENO, "EPERM\n", 6) != 6)
        _exit(95);
}

static void enter_chroot(void)
{
    if (chroot("/") == 0)
        _exit(94);
}

static void test_vcpu_socket_kills(void **state)
{
    struct job j = {SECCOMP_VCPU, true, open_socket};
    char err[256];

    (void)state;
    assert_int_equal(run_child(&j, err, sizeof(err)), SECCOMP_EXIT_STATUS);
    assert_string_equal(err, "vx86: seccomp: thread vcpu made forbidden syscall socket (41)\n");
}

/* A terminal that the process put in raw mode goes back to the mode it
 * found it in when a forbidden call ends the process: what the console
 * registers with seccomp_on_kill, from a vCPU thread's filter. */
static int tty = -1;
static struct termios tty_saved;

static void restore_tty(void)
{
    tcsetattr(tty, TCSANOW, &tty_saved);
}

static void raw_then_socket(void)
{
    struct termios t = tty_saved;

    cfmakeraw(&t);
    if (tcsetattr(tty, TCSANOW, &t) != 0)
        _exit(93);
    open_socket();
}

static void test_kill_restores_terminal(void **state)
{
    struct job j = {SECCOMP_VCPU, true, raw_then_socket};
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    struct termios after;
    char err[256];

    (void)state;
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    tty = open(ptsname(master), O_RDWR | O_NOCTTY);
    assert_true(tty >= 0);
    assert_int_equal(tcgetattr(tty, &tty_saved), 0);
    assert_true(tty_saved.c_lflag & ICANON);
    seccomp_on_kill(restore_tty);
    assert_int_equal(run_child(&j, err, sizeof(err)), SECCOMP_EXIT_STATUS);
    seccomp_on_kill(NULL);
    assert_int_equal(tcgetattr(tty, &after), 0);
    assert_true(after.c_lflag & ICANON);
    assert_true(after.c_lflag & ECHO);
    close(tty);
    close(master);
}

static void test_vcpu_work_runs(void **state)
{
    struct job j = {SECCOMP_VCPU, true, vcpu_work};
    char err[256];

    (void)state;
    assert_int_equal(run_child(&j, err, sizeof(err)), 0);
    assert_string_equal(err, "ok\n");
}

static void test_io_exec_mapping_kills(void **state)
{
    struct job j = {SECCOMP_IO, true, map_exec};
    char err[256];

    (void)state;
    assert_int_equal(run_child(&j, err, sizeof(err)), SECCOMP_EXIT_STATUS);
    assert_string_equal(err, "vx86: seccomp: thread io made forbidden syscall mmap (9)\n");
}

static void test_main_chroot_kills(void **state)
{
    struct job j = {SECCOMP_MAIN, true, enter_chroot};
    char err[256];

    (void)state;
    assert_int_equal(run_child(&j, err, sizeof(err)), SECCOMP_EXIT_STATUS);
    assert_string_equal(err, "vx86: seccomp: thread main made forbidden syscall chroot (161)\n");
}

/*
 * Threads yes, processes no: fork is clone(2) without CLONE_THREAD; and no
 * program may run. Sanitizer builds let their runtimes fork (LeakSanitizer's
 * tracer, a report's symbolizer), whose execve fails (host/seccomp.c).
 */
static void test_main_fork_kills(void **state)
{
    struct job j = {SECCOMP_MAIN, true, spawn};
    char err[256];

    (void)state;
#ifdef VX86_SANITIZERS
    assert_int_equal(run_child(&j, err, sizeof(err)), 0);
    assert_string_equal(err, "");
#else
    assert_int_equal(run_child(&j, err, sizeof(err)), SECCOMP_EXIT_STATUS);
    assert_string_equal(err, "vx86: seccomp: thread main made forbidden syscall clone (56)\n");
#endif
}

/* The main thread, which serves the API, runs no program either. */
static void test_main_exec_kills(void **state)
{
    struct job j = {SECCOMP_MAIN, true, exec_true};
    char err[256];

    (void)state;
#ifdef VX86_SANITIZERS
    assert_int_equal(run_child(&j, err, sizeof(err)), 0);
    assert_string_equal(err, "EPERM\n");
#else
    assert_int_equal(run_child(&j, err, sizeof(err)), SECCOMP_EXIT_STATUS);
    assert_string_equal(err, "vx86: seccomp: thread main made forbidden syscall execve (59)\n");
#endif
}

/* --no-seccomp: seccomp_enable is not called, and the same call goes through. */
static void test_off_without_enable(void **state)
{
    struct job j = {SECCOMP_VCPU, false, open_socket};
    char err[256];

    (void)state;
    assert_int_equal(run_child(&j, err, sizeof(err)), 0);
    assert_string_equal(err, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vcpu_socket_kills),     cmocka_unit_test(test_vcpu_work_runs),
        cmocka_unit_test(test_kill_restores_terminal),
        cmocka_unit_test(test_io_exec_mapping_kills), cmocka_unit_test(test_main_fork_kills),
        cmocka_unit_test(test_main_exec_kills),        cmocka_unit_test(test_main_chroot_kills),
        cmocka_unit_test(test_off_without_enable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
