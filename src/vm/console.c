#include "vm/console.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <termios.h>
#include <unistd.h>

#include "host/seccomp.h"
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

/* The output buffer: 1 MiB, some seconds of a chatty boot at a terminal's
 * pace, so that only a reader that stalls (a pipe nobody reads) loses any. */
#define OUT_CAP (1u << 20)

/* The most the loop writes to a pipe or terminal per EPOLLOUT: a pipe with
 * room for any takes PIPE_BUF bytes without blocking (Linux gives it a
 * page), so a stalled reader cannot hold the loop. */
#define OUT_CHUNK 4096

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

    /* While attached (console_attach to console_detach): */
    struct vm *vm;
    struct loop *loop;
    struct loop_watch in_watch, out_watch; /* out_watch: out_fd takes epoll */
    struct loop_timer com1_retry;
    struct loop_waker out_waker;

    /* Guest output: a ring of out_len bytes from out_head. out_lock guards
     * these; out_woken: a wake is posted or the loop is draining, so
     * console_put need not wake it again. */
    pthread_mutex_t out_lock;
    uint8_t *out;
    uint32_t out_head, out_len;
    bool out_woken;
    bool attached;
    uint64_t dropped;  /* bytes dropped since attach */
    bool dropped_told; /* the first drop has been reported */
} con = {.in_fd = -1, .out_fd = STDOUT_FILENO, .out_lock = PTHREAD_MUTEX_INITIALIZER};

void console_restore(void)
{
    if (con.raw) {
        tcsetattr(con.in_fd, TCSAFLUSH, &con.saved);
        con.raw = 0;
    }
}

/* From the SIGSYS handler of a seccomp kill (seccomp_on_kill): TCSANOW,
 * an ioctl TCSETS, which every thread's filter allows. */
static void restore_on_kill(void)
{
    if (con.raw)
        tcsetattr(con.in_fd, TCSANOW, &con.saved);
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
    seccomp_on_kill(restore_on_kill);
    for (unsigned i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
        signal(fatal_signals[i], crash_handler);
    return 0;
}

int console_init(const char *target)
{
    con.out = malloc(OUT_CAP);
    if (!con.out) {
        log_err("console: out of memory");
        return -ENOMEM;
    }
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

static void write_all(const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t n = write(con.out_fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* the console is gone: nothing else to tell */
        p += n;
        len -= (size_t)n;
    }
}

/* Appends to the ring, dropping its oldest bytes if full. out_lock held;
 * returns whether the loop must be woken. */
static bool out_append(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (con.out_len == OUT_CAP) {
            con.out_head = (con.out_head + 1) % OUT_CAP;
            con.out_len--;
            con.dropped++;
        }
        con.out[(con.out_head + con.out_len++) % OUT_CAP] = p[i];
    }
    if (con.out_woken)
        return false;
    con.out_woken = true;
    return true;
}

void console_put(uint8_t byte)
{
    bool wake;

    pthread_mutex_lock(&con.out_lock);
    if (!con.attached) {
        /* No loop to drain it (a machine being built or torn down, a
         * unit test): straight out, as the order with stderr wants. */
        pthread_mutex_unlock(&con.out_lock);
        write_all(&byte, 1);
        return;
    }
    wake = out_append(&byte, 1);
    pthread_mutex_unlock(&con.out_lock);
    if (wake)
        loop_wake(&con.out_waker);
}

/*
 * Writes up to max bytes of the ring (all, for max 0) and drops them from
 * it. Returns whether some remain; when none do, the next console_put
 * wakes the loop again. Loop thread.
 */
static bool drain(uint32_t max)
{
    static uint8_t chunk[OUT_CHUNK];
    uint64_t dropped;
    bool more;

    do {
        uint32_t n;

        pthread_mutex_lock(&con.out_lock);
        n = con.out_len < sizeof(chunk) ? con.out_len : sizeof(chunk);
        if (max && n > max)
            n = max;
        for (uint32_t i = 0; i < n; i++)
            chunk[i] = con.out[(con.out_head + i) % OUT_CAP];
        con.out_head = (con.out_head + n) % OUT_CAP;
        con.out_len -= n;
        more = con.out_len > 0;
        if (!more)
            con.out_woken = false;
        dropped = con.dropped;
        pthread_mutex_unlock(&con.out_lock);
        write_all(chunk, n);
    } while (more && !max);
    if (dropped && !con.dropped_told) {
        con.dropped_told = true;
        log_err("console: its reader does not keep up; the oldest guest output is dropped");
    }
    return more;
}

/* out_waker: output came. A pipe or terminal gets it as it takes more
 * (out_watch, EPOLLOUT); a file (which epoll refuses) at once. */
static void output_came(void *opaque, uint32_t events)
{
    (void)opaque;
    (void)events;
    if (con.out_watch.added)
        loop_watch_set(&con.out_watch, EPOLLOUT);
    else
        drain(0);
}

static void output_writable(void *opaque, uint32_t events)
{
    (void)opaque;
    if (events & (EPOLLERR | EPOLLHUP)) {
        /* The reader is gone: output goes nowhere (write_all gives up). */
        loop_watch_del(&con.out_watch);
        drain(0);
        return;
    }
    if (!drain(OUT_CHUNK))
        loop_watch_set(&con.out_watch, 0);
}

static void out_text(const char *s)
{
    pthread_mutex_lock(&con.out_lock);
    if (!con.attached) {
        pthread_mutex_unlock(&con.out_lock);
        write_all((const uint8_t *)s, strlen(s));
        return;
    }
    out_append((const uint8_t *)s, strlen(s));
    pthread_mutex_unlock(&con.out_lock);
    output_came(NULL, 0);
}

static void print_help(void)
{
    out_text("\r\nC-a h    this help\r\n"
             "C-a x    quit vx86\r\n"
             "C-a C-a  send C-a to the guest\r\n");
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

static void input_ready(void *opaque, uint32_t events);

/* Input is read only when the previous read has reached the guest; while it
 * has not, stdin leaves the loop: a readable stdin would spin it, and a
 * hung-up one (a pipe whose writer closed it) is reported even with no
 * events asked for, and its read would overwrite what still waits. */
static void watch_input(bool on)
{
    if (on && !con.in_watch.added) {
        /* stdin may be a file or /dev/null, which epoll refuses: then no
         * input. */
        if (loop_watch_add(con.loop, &con.in_watch, con.in_fd, EPOLLIN, input_ready, NULL))
            con.in_fd = -1;
    } else if (!on) {
        loop_watch_del(&con.in_watch);
    }
}

/* Offers COM1 what it has not taken of con.pending. While the guest reads
 * COM1, the rest waits (and stdin with it: a paste reaches the guest
 * whole), COM1 offered it again every 10 ms; once COM1 has taken nothing
 * for COM1_STALL_MS, or at once while it is unattended, the rest is
 * dropped, as a UART's FIFO overruns. */
static void feed_com1(void *opaque, uint32_t events)
{
    struct vm *vm = con.vm;
    int n = serial_receive(vm->pc->com1, con.pending + con.pending_off,
                           con.pending_len - con.pending_off);
    int64_t now = clock_now_ms();

    (void)opaque;
    (void)events;
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
    if (con.pending_off < con.pending_len) {
        loop_timer_arm(&con.com1_retry, 10000000, 0);
        return;
    }
    if (con.in_fd >= 0)
        watch_input(true);
}

/* Reads what stdin has for the guest, to hvc0, which keeps what it cannot
 * deliver yet (virtio/console.h), and to COM1. At its end the guest keeps
 * running without input, as with QEMU. */
static void input_ready(void *opaque, uint32_t events)
{
    uint8_t buf[sizeof(con.pending)];
    ssize_t n = read(con.in_fd, buf, sizeof(buf));
    bool quit;

    (void)opaque;
    (void)events;
    if (n <= 0) {
        if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
            watch_input(false);
            con.in_fd = -1;
        }
        return;
    }
    watch_input(false);
    quit = !filter_input(buf, (int)n);
    if (con.vm->hvc)
        virtio_console_input(con.vm->hvc, con.pending, con.pending_len);
    con.com1_progress_ms = clock_now_ms();
    feed_com1(NULL, 0);
    if (quit) {
        console_restore();
        vm_stop(con.vm, VX86_OK, "quit from the console (Ctrl-A X)");
    }
}

int console_attach(struct loop *l, struct vm *vm)
{
    int err;

    con.vm = vm;
    con.loop = l;
    err = loop_timer_add(l, &con.com1_retry, feed_com1, NULL);
    if (!err)
        err = loop_waker_add(l, &con.out_waker, output_came, NULL);
    if (err) {
        log_err("console: cannot set up its events: %s", strerror(-err));
        console_detach();
        return err;
    }
    /* A regular file or /dev/null takes every write at once: no watch
     * (epoll refuses them). */
    if (loop_watch_add(l, &con.out_watch, con.out_fd, 0, output_writable, NULL)) {
        /* out_watch stays not added: output_came writes at once. */
    }
    pthread_mutex_lock(&con.out_lock);
    con.attached = true;
    pthread_mutex_unlock(&con.out_lock);
    /* Typed bytes a reset left waiting go to the new guest's COM1. */
    if (con.pending_off < con.pending_len)
        loop_timer_arm(&con.com1_retry, 10000000, 0);
    else if (con.in_fd >= 0)
        watch_input(true);
    return 0;
}

void console_detach(void)
{
    pthread_mutex_lock(&con.out_lock);
    con.attached = false;
    pthread_mutex_unlock(&con.out_lock);
    /* What the guest wrote last, its power-off or panic message above all,
     * reaches the terminal before vx86's own lines. */
    drain(0);
    if (con.dropped)
        log_err("console: %llu bytes of guest output were dropped (its reader did not keep up)",
                (unsigned long long)con.dropped);
    con.dropped = con.dropped_told = 0;
    con.out_woken = false;
    loop_watch_del(&con.in_watch);
    loop_watch_del(&con.out_watch);
    loop_timer_del(&con.com1_retry);
    loop_waker_del(&con.out_waker);
    con.vm = NULL;
}
