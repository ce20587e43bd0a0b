/*
 * virtio-vsock's back end (vsock_conn.h): the Unix sockets of Firecracker's
 * hybrid vsock, on the machine's event loop. The listening socket takes
 * host clients and their CONNECT lines; a guest's REQUEST becomes a
 * connect() to "<uds>_<port>"; each connection's socket moves the bytes
 * the device part (vsock.c) takes from and gives to the queues. One epoll
 * set holds the sockets and the queue kicks' eventfd; it is one fd on the
 * loop, and a pass (vsock_pass) runs under dev.lock without blocking.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/loop.h"
#include "virtio/vsock_conn.h"
#include "vm/vm.h"

/* Closes c's Unix socket (which also leaves the epoll set). */
static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->ring);
    c->ring = NULL;
    c->len = 0;
}

void vsock_conn_free(struct vsock *v, struct conn *c)
{
    v->conns[c->slot] = NULL;
    conn_close(c);
    free(c);
}

/* Ends c at once; the guest hears an RST if it knows of c. */
void vsock_conn_kill(struct vsock *v, struct conn *c)
{
    if (c->state == C_LINE || c->state == C_REQUEST) {
        vsock_conn_free(v, c);
        return;
    }
    /* The slot keeps the RST until a receive buffer takes it: the shared
     * queue may drop, and a guest waiting on this connection must hear. */
    conn_close(c);
    c->state = C_DEAD;
}

/* Takes ownership of fd; returns the new connection or NULL (fd closed). */
static struct conn *conn_new(struct vsock *v, int fd, enum conn_state state)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};
    struct conn *c = NULL;
    unsigned i;

    for (i = 0; i < MAX_CONNS && v->conns[i]; i++)
        ;
    if (i < MAX_CONNS)
        c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return NULL;
    }
    c->fd = fd;
    c->slot = i;
    c->gen = ++v->next_gen;
    c->state = state;
    c->readable = c->writable = true;
    ev.data.u64 = (uint64_t)c->gen << 32 | i;
    if (epoll_ctl(v->ep, EPOLL_CTL_ADD, fd, &ev)) {
        close(fd);
        free(c);
        return NULL;
    }
    v->conns[i] = c;
    return c;
}

/* Both directions are over, or the guest closed and everything it sent
 * reached the Unix socket: the connection ends with an RST, which a guest
 * that sent SHUTDOWN waits for (§5.10.6.5). Returns whether c ended. */
bool vsock_conn_check_done(struct vsock *v, struct conn *c)
{
    if (c->len)
        return false;
    if (c->peer_shut == SHUTDOWN_BOTH ||
        (c->eof_sent && (c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_SEND))) {
        vsock_conn_kill(v, c);
        return true;
    }
    return false;
}

/* Writes what the guest sent to the Unix socket, as far as it takes it.
 * Returns whether c ended. */
bool vsock_conn_flush(struct vsock *v, struct conn *c)
{
    while (c->len && c->writable) {
        uint32_t n = c->len < CONN_BUF - c->head ? c->len : CONN_BUF - c->head;
        ssize_t r = send(c->fd, c->ring + c->head, n, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->writable = false;
            break;
        }
        if (r <= 0) {
            vsock_conn_kill(v, c);
            return true;
        }
        c->head = (c->head + (uint32_t)r) & (CONN_BUF - 1);
        c->len -= (uint32_t)r;
        c->fwd_cnt += (uint32_t)r;
    }
    /* The guest hears of freed space once a quarter of the buffer is free
     * again: a guest that ran out of credit waits for this (§5.10.6.3). */
    if (c->fwd_cnt - c->fwd_sent >= CONN_BUF / 4)
        c->credit_due = true;
    if (!c->len && (c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_SEND) && !c->wr_shut) {
        shutdown(c->fd, SHUT_WR);
        c->wr_shut = true;
    }
    return vsock_conn_check_done(v, c);
}

/* connect() to "<uds>_<port>": 0, -EAGAIN while the listener's backlog is
 * full (a Unix socket does not complete a connect later, as TCP does), or
 * another -errno: nothing listens. */
static int uds_connect(const struct vsock *v, int fd, uint32_t port)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", v->uds, port);
    return connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
}

/* A guest's REQUEST to the host's port: connect to "<uds>_<port>". */
void vsock_guest_connect(struct vsock *v, const struct vsock_hdr *h)
{
    struct conn *c;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int err = fd < 0 ? -errno : uds_connect(v, fd, h->dst_port);

    if (err && err != -EAGAIN) {
        if (fd >= 0)
            close(fd);
        vsock_queue_rst(v, HOST_CID, h->dst_port, h->src_port); /* refused */
        return;
    }
    c = conn_new(v, fd, err ? C_CONNECT : C_RESPONSE);
    if (!c) {
        vsock_queue_rst(v, HOST_CID, h->dst_port, h->src_port);
        return;
    }
    c->deadline = clock_now_ms() + CONNECT_TIMEOUT_MS;
    c->local_port = h->dst_port;
    c->peer_port = h->src_port;
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
}

/* Reads the host client's "CONNECT <port>\n" without taking any byte past
 * it; then the connection waits for a REQUEST to go to the guest. */
void vsock_conn_line(struct vsock *v, struct conn *c)
{
    char *nl, *end;
    unsigned long port;
    ssize_t r = recv(c->fd, c->line, sizeof(c->line) - 1, MSG_PEEK | MSG_DONTWAIT);

    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        c->readable = false;
        return;
    }
    if (r <= 0) {
        vsock_conn_free(v, c);
        return;
    }
    c->line[r] = 0;
    nl = memchr(c->line, '\n', (size_t)r);
    if (!nl) {
        if (r == sizeof(c->line) - 1)
            vsock_conn_free(v, c); /* no line this long is valid */
        else
            c->readable = false; /* more to come; the next edge says when */
        return;
    }
    if (recv(c->fd, c->line, (size_t)(nl - c->line + 1), MSG_DONTWAIT) != nl - c->line + 1) {
        vsock_conn_free(v, c);
        return;
    }
    *nl = 0;
    if (strncmp(c->line, "CONNECT ", 8) || !isdigit((unsigned char)c->line[8])) {
        vsock_conn_free(v, c);
        return;
    }
    errno = 0;
    port = strtoul(c->line + 8, &end, 10);
    if (errno || *end || port > UINT32_MAX || !virtio_running(&v->dev)) {
        vsock_conn_free(v, c); /* a bad line, or no driver to connect to */
        return;
    }
    c->peer_port = (uint32_t)port;
    do {
        c->local_port = v->next_port++;
        if (v->next_port < EPHEMERAL_PORT) /* wrapped */
            v->next_port = EPHEMERAL_PORT;
    } while (vsock_find(v, c->local_port, c->peer_port));
    c->state = C_REQUEST;
}

int vsock_conn_answer(struct conn *c)
{
    char ok[24];
    int n = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);

    /* A fresh socket's buffer always takes these few bytes. */
    return send(c->fd, ok, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == n ? 0 : -1;
}

ssize_t vsock_conn_recv(struct conn *c, void *buf, size_t len)
{
    ssize_t r = recv(c->fd, buf, len, MSG_DONTWAIT);

    if (r >= 0)
        return r;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        c->readable = false;
        return -EAGAIN;
    }
    return -errno;
}

void vsock_conn_deadline(struct conn *c)
{
    c->deadline = clock_now_ms() + CONNECT_TIMEOUT_MS;
}

/* Accepts every pending host client. */
static void accept_clients(struct vsock *v)
{
    int fd;

    while ((fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
        conn_new(v, fd, C_LINE);
}

/* With act, tries the guest's waiting connects again and ends those, and
 * the host-initiated connections whose guest did not answer, that are past
 * their deadline (an RST tells the guest). Returns the milliseconds until
 * one of them needs this again (0: now), -1 if none. dev.lock held; any
 * thread may call it. */
static int vsock_timers(struct vsock *v, bool act)
{
    int64_t now = clock_now_ms(), next = -1;

    for (unsigned i = 0; i < MAX_CONNS; i++) {
        struct conn *c = v->conns[i];
        int64_t left;

        if (!c || (c->state != C_WAIT && c->state != C_CONNECT))
            continue;
        if (act && c->state == C_CONNECT) {
            int err = uds_connect(v, c->fd, c->local_port);

            if (!err) {
                c->state = C_RESPONSE;
                continue;
            }
            if (err != -EAGAIN) {
                vsock_conn_kill(v, c);
                continue;
            }
        }
        left = c->deadline > now ? c->deadline - now : 0;
        if (!left && act) {
            vsock_conn_kill(v, c);
            continue;
        }
        if (c->state == C_CONNECT && left > RETRY_MS)
            left = RETRY_MS;
        if (next < 0 || left < next)
            next = left;
    }
    return (int)next;
}

/* One epoll event: tag and events as epoll_wait gave them. dev.lock held. */
static void vsock_event(struct vsock *v, uint64_t tag, uint32_t events)
{
    unsigned slot = (unsigned)tag;
    struct conn *c;
    uint64_t n;

    if (slot == TAG_LISTEN) {
        accept_clients(v);
    } else if (slot == TAG_KICK) {
        if (read(v->kick_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
            vsock_warn_once(v, "cannot read the notification eventfd");
    } else if (slot < MAX_CONNS && (c = v->conns[slot]) && c->gen == tag >> 32) {
        /* A stale event of a closed slot fails the generation check. */
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            c->readable = true;
        if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            c->writable = true;
    }
}

/* One pass over what is ready (ep's events, without waiting), the timers
 * due and the queues; then the timer is set for the next deadline. The
 * callback of ep's watch and of the timer; every socket is non-blocking,
 * so a pass never waits. */
static void vsock_pass(void *opaque, uint32_t events)
{
    struct vsock *v = opaque;
    struct epoll_event ev[32];
    int n, timeout;

    (void)events;
    pthread_mutex_lock(&v->dev.lock);
    do {
        n = epoll_wait(v->ep, ev, 32, 0);
        for (int i = 0; i < n; i++)
            vsock_event(v, ev[i].data.u64, ev[i].events);
    } while (n == 32);
    vsock_timers(v, true);
    vsock_pump(v);
    timeout = vsock_timers(v, false);
    pthread_mutex_unlock(&v->dev.lock);
    loop_timer_set_ms(&v->timer, timeout);
}

void vsock_kick(struct vsock *v)
{
    uint64_t one = 1;

    if (write(v->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        vsock_warn_once(v, "cannot signal the event loop");
}

static int watch(struct vsock *v, int fd, uint64_t tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};

    return epoll_ctl(v->ep, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

int vsock_uds_open(struct vsock *v, struct loop *loop)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int err = 0;

    v->ep = epoll_create1(EPOLL_CLOEXEC);
    v->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    v->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (v->ep < 0 || v->kick_fd < 0 || v->listen_fd < 0) {
        err = -errno;
        log_err("--vsock uds=%s: %s", v->uds, strerror(-err));
        return err;
    }
    memcpy(sa.sun_path, v->uds, strlen(v->uds) + 1);
    if (bind(v->listen_fd, (struct sockaddr *)&sa, sizeof(sa))) {
        err = -errno;
        log_err("--vsock uds=%s: %s", v->uds,
                err == -EADDRINUSE ? "exists (remove it, or choose another path)" : strerror(-err));
        return err;
    }
    v->listening = true;
    if (listen(v->listen_fd, 64))
        err = -errno;
    if (!err)
        err = watch(v, v->listen_fd, TAG_LISTEN);
    if (!err)
        err = watch(v, v->kick_fd, TAG_KICK);
    /* The sockets' and the kicks' epoll set is one fd on the loop. */
    if (!err)
        err = loop_timer_add(loop, &v->timer, vsock_pass, v);
    if (!err)
        err = loop_watch_add(loop, &v->ep_watch, v->ep, EPOLLIN, vsock_pass, v);
    if (err) {
        log_err("--vsock uds=%s: %s", v->uds, strerror(-err));
        return err;
    }
    return 0;
}

void vsock_uds_close(struct vsock *v)
{
    loop_watch_del(&v->ep_watch);
    loop_timer_del(&v->timer);
    if (v->listening)
        unlink(v->uds);
    if (v->listen_fd >= 0)
        close(v->listen_fd);
    if (v->kick_fd >= 0)
        close(v->kick_fd);
    if (v->ep >= 0)
        close(v->ep);
}
