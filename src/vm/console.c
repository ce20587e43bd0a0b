#include "vm/console.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "hw/pc.h"
#include "util/clock.h"
#include "util/log.h"
#include "virtio/console.h"
#include "vm/vm.h"

#define ESCAPE_KEY 0x01 /* Ctrl-A */

/* How long COM1 may take none of the typed bytes waiting for it before they
 * are dropped and COM1 counts as unattended: a guest whose console is hvc0
 * never reads COM1, and COM1's full FIFO must not hold up hvc0's input. */
#define COM1_STALL_MS 1000

/* One terminal per process, so the console is process state. */
static struct {
    int in_fd; /* -1: no input */
    int out_fd;
    struct termios saved;
    volatile sig_atomic_t raw;
    bool escape; /* the previous key was Ctrl-A */
    /* Typed bytes that COM1's FIFO has not taken yet. */
    uint8_t pending[256];
    int pending_len, pending_off;
    int64_t com1_progress_ms; /* when COM1 last took a byte, or pending filled */
    bool com1_unattended;     /* COM1 stalled; its bytes are dropped */
} con = {.in_fd = -1, .out_fd = STDOUT_FILENO};

void console_restore(void)
{
    if (con.raw) {
        tcsetattr(con.in_fd, TCSAFLUSH, &con.saved);
        con.raw = 0;
    }
}

static void crash_handler(int sig)
{
    console_restore();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int enter_raw_mode(void)
{
    struct termios t;
    static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

    if (tcgetattr(con.in_fd, &con.saved) < 0)
        return -errno;
    t = con.saved;
    cfmakeraw(&t);
    /* Keep output post-processing off too: the guest sends its own CR LF. */
    if (tcsetattr(con.in_fd, TCSAFLUSH, &t) < 0)
        return -errno;
    con.raw = 1;
    atexit(console_restore);
    for (unsigned i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
        signal(fatal_signals[i], crash_handler);
    return 0;
}

int console_init(const char *target)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    if (strcmp(target, "stdio") != 0) {
        con.out_fd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (con.out_fd < 0) {
            log_err("--serial %s: %s", target, strerror(errno));
            return -errno;
        }
        return 0;
    }
    con.in_fd = STDIN_FILENO;
    if (isatty(con.in_fd) && enter_raw_mode() < 0)
        log_err("stdin: cannot enter raw mode: %s", strerror(errno));
    return 0;
}

void console_put(uint8_t byte)
{
    while (write(con.out_fd, &byte, 1) < 0 && errno == EINTR)
        ;
}

static void print_help(void)
{
    static const char help[] = "\r\nC-a h    this help\r\n"
                               "C-a x    quit vx86\r\n"
                               "C-a C-a  send C-a to the guest\r\n";

    if (write(con.out_fd, help, sizeof(help) - 1) < 0) {
        /* The console is gone; nothing else to tell. */
    }
}

/* Applies the escape key to freshly read bytes, leaving what is meant for
 * the guest in con.pending. Returns false if the user asked to quit. */
static bool filter_input(const uint8_t *buf, int len)
{
    con.pending_len = con.pending_off = 0;
    for (int i = 0; i < len; i++) {
        uint8_t c = buf[i];

        if (con.escape) {
            con.escape = false;
            if (c == 'x' || c == 'X')
                return false;
            if (c == 'h' || c == 'H' || c == '?')
                print_help();
            else if (c == ESCAPE_KEY)
                con.pending[con.pending_len++] = c;
            continue;
        }
        if (c == ESCAPE_KEY)
            con.escape = true;
        else
            con.pending[con.pending_len++] = c;
    }
    return true;
}

/* Offers COM1 what it has not taken of con.pending. While the guest reads
 * COM1, the rest waits (and stdin with it: a paste reaches the guest
 * whole); once COM1 has taken nothing for COM1_STALL_MS, or at once while
 * it is unattended, the rest is dropped, as a UART's FIFO overruns. */
static void feed_com1(struct vm *vm)
{
    int n = serial_receive(vm->pc->com1, con.pending + con.pending_off,
                           con.pending_len - con.pending_off);
    int64_t now = clock_now_ms();

    if (n > 0) {
        con.com1_progress_ms = now;
        con.com1_unattended = false;
    }
    con.pending_off += n;
    if (con.pending_off < con.pending_len &&
        (con.com1_unattended || now - con.com1_progress_ms >= COM1_STALL_MS)) {
        con.com1_unattended = true;
        con.pending_off = con.pending_len;
    }
}

/* Fresh input in con.pending: to hvc0, which keeps what it cannot deliver
 * yet (virtio/console.h), and to COM1. */
static void feed_guest(struct vm *vm)
{
    if (vm->hvc)
        virtio_console_input(vm->hvc, con.pending, con.pending_len);
    con.com1_progress_ms = clock_now_ms();
    feed_com1(vm);
}

/* Reads what stdin has for the guest. Returns false at its end. */
static bool read_input(struct vm *vm)
{
    uint8_t buf[sizeof(con.pending)];
    ssize_t n = read(con.in_fd, buf, sizeof(buf));
    bool quit;

    if (n <= 0)
        return n < 0 && (errno == EINTR || errno == EAGAIN);
    quit = !filter_input(buf, (int)n);
    feed_guest(vm);
    if (quit) {
        console_restore();
        vm_stop(vm, VX86_OK, "quit from the console (Ctrl-A X)");
    }
    return true;
}

static int add_fd(int epfd, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Input is read only when the previous read has reached the guest; while it
 * has not, stdin leaves the epoll set: a readable stdin would spin the loop,
 * and a hung-up one (a pipe whose writer closed it) is reported even with
 * no events asked for, and its read would overwrite what still waits. */
static void watch_input(int epfd, bool *watched, bool on)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = con.in_fd};

    if (on != *watched && !epoll_ctl(epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, con.in_fd, &ev))
        *watched = on;
}

/* Stops the VM for a pending termination signal. One that comes after
 * another stop (a guest reset) still counts: the guest is not restarted. */
static void take_signal(struct vm *vm, int sigfd)
{
    struct signalfd_siginfo si;
    char why[64];

    if (read(sigfd, &si, sizeof(si)) != sizeof(si))
        return;
    snprintf(why, sizeof(why), "terminating on signal %u", si.ssi_signo);
    vm->signalled = true;
    if (atomic_load(&vm->stopping))
        log_err("%s", why);
    else
        vm_stop(vm, VX86_OK, why);
}

void console_loop(struct vm *vm)
{
    sigset_t set;
    int epfd, sigfd;
    bool input = con.in_fd >= 0, watched = false;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0 || sigfd < 0 || add_fd(epfd, vm->stop_fd) < 0 || add_fd(epfd, sigfd) < 0) {
        log_err("console: cannot set up the event loop: %s", strerror(errno));
        vm_stop(vm, VX86_EHOST, NULL);
        goto out;
    }
    /* stdin may be a file or /dev/null, which epoll refuses: then no input. */
    if (input)
        watch_input(epfd, &watched, true);
    input = watched;

    while (!atomic_load(&vm->stopping)) {
        struct epoll_event evs[4];
        bool backlog = con.pending_off < con.pending_len;
        /* While the UART's FIFO is full, retry every 10 ms. */
        int n = epoll_wait(epfd, evs, 4, backlog ? 10 : -1);

        if (backlog) {
            feed_com1(vm);
            if (input && con.pending_off >= con.pending_len)
                watch_input(epfd, &watched, true);
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;

            if (fd == sigfd) {
                take_signal(vm, sigfd);
            } else if (input && fd == con.in_fd) {
                /* At its end the guest keeps running without input, as
                 * with QEMU. */
                input = read_input(vm);
                if (!input || con.pending_off < con.pending_len)
                    watch_input(epfd, &watched, false);
            }
        }
    }
    /* A guest that resets at once may stop the VM before the loop ever
     * waits: a signal pending by then is taken here, or restarts would
     * never see it. */
    take_signal(vm, sigfd);
out:
    if (epfd >= 0)
        close(epfd);
    if (sigfd >= 0)
        close(sigfd);
}
