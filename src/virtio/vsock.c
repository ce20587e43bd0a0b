/*
 * virtio-vsock (VIRTIO 1.2 §5.10), stream sockets only, bridged to Unix
 * stream sockets as Firecracker's hybrid vsock does (virtio/vsock.h).
 *
 * Each connection is a (host port, guest port) pair with a Unix socket.
 * Guest to host, the device advertises CONN_BUF bytes of buffer space and
 * keeps what the Unix socket has not taken yet in a ring of that size, so
 * a guest that respects its credit (§5.10.6.3) never loses data and one
 * that does not loses its connection. Host to guest, the device reads from
 * the Unix socket only as much as the guest's credit and its receive buffer
 * allow, straight into that buffer.
 *
 * The guest controls every header: a packet it gets wrong (a bad length,
 * an unknown connection or operation, a credit lie) resets that one
 * connection; only a malformed ring breaks the device (virtio_fail).
 */
#include "virtio/vsock.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/thread.h"
#include "vm/vm.h"

/* §5.10.2 queues, §5.10.3 feature bits. The event queue (2) stays
 * unused: its one event, TRANSPORT_RESET (§5.10.6.6), follows a migration,
 * which vx86 does not do. */
#define RXQ   0
#define TXQ   1
#define NR_VQ 3

#define VIRTIO_VSOCK_F_STREAM 0

/* §5.10.6: the host's CID, socket types, operations, SHUTDOWN flags. */
#define HOST_CID 2

#define VIRTIO_VSOCK_TYPE_STREAM 1

#define VIRTIO_VSOCK_OP_REQUEST        1
#define VIRTIO_VSOCK_OP_RESPONSE       2
#define VIRTIO_VSOCK_OP_RST            3
#define VIRTIO_VSOCK_OP_SHUTDOWN       4
#define VIRTIO_VSOCK_OP_RW             5
#define VIRTIO_VSOCK_OP_CREDIT_UPDATE  6
#define VIRTIO_VSOCK_OP_CREDIT_REQUEST 7

#define VIRTIO_VSOCK_SHUTDOWN_RCV  1
#define VIRTIO_VSOCK_SHUTDOWN_SEND 2
#define SHUTDOWN_BOTH              (VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND)

/* §5.10.6, struct virtio_vsock_hdr; little-endian like the host. */
struct vsock_hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port;
    uint32_t len;
    uint16_t type, op;
    uint32_t flags;
    uint32_t buf_alloc, fwd_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct vsock_hdr) == 44, "virtio_vsock_hdr is 44 bytes");
#define HDR_LEN ((uint32_t)sizeof(struct vsock_hdr))

#define MAX_CONNS 256
#define CONN_BUF  (128u * 1024) /* buf_alloc of each connection, a power of two */
#define MAX_PKT   (64u * 1024)  /* payload of one packet to the guest, Linux's cap */
#define MAX_RST   64            /* resets waiting for a receive buffer */
#define LINE_MAX  32            /* "CONNECT 4294967295\n" with room to spare */
/* How long a host client waits for the guest to answer its CONNECT, as
 * Firecracker's hybrid vsock waits; as long a guest's connection waits for
 * room in a host listener's backlog, trying again every RETRY_MS. */
#define CONNECT_TIMEOUT_MS 2000
#define RETRY_MS           10
/* Host ports of host-initiated connections, as Firecracker numbers them. */
#define EPHEMERAL_PORT (1u << 30)

/* epoll tags besides connection slots (slot | generation << 32). */
#define TAG_LISTEN MAX_CONNS
#define TAG_KICK   (MAX_CONNS + 1)

enum conn_state {
    C_LINE,     /* a host client: its CONNECT line not read yet */
    C_REQUEST,  /* host-initiated: REQUEST to send to the guest */
    C_WAIT,     /* host-initiated: REQUEST sent, waiting for RESPONSE */
    C_CONNECT,  /* guest-initiated: the Unix socket's backlog was full, retrying */
    C_RESPONSE, /* guest-initiated: Unix socket connected, RESPONSE to send */
    C_OPEN,
    C_DEAD, /* the Unix socket closed; an RST to send to the guest */
};

struct conn {
    int fd;
    unsigned slot;
    uint32_t gen;
    enum conn_state state;
    uint32_t local_port, peer_port;
    bool readable, writable; /* until read/write says EAGAIN (edge-triggered) */
    bool host_eof;           /* the Unix socket read 0: SHUTDOWN(SEND) due */
    bool eof_sent, wr_shut, credit_due;
    int64_t deadline;   /* C_WAIT, C_CONNECT: when to give up (clock_now_ms) */
    uint32_t peer_shut; /* SHUTDOWN flags the guest sent */
    /* Host to guest: the guest's buffer space (§5.10.6.3). */
    uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
    /* Guest to host: bytes written to the Unix socket, and the count the
     * guest last heard of; ring holds len bytes from head not written. */
    uint32_t fwd_cnt, fwd_sent;
    uint8_t *ring;
    uint32_t head, len;
    char line[LINE_MAX];
};

struct vsock {
    struct virtio_dev dev; /* first: the transport's handle */
    struct {
        uint64_t guest_cid;
    } config; /* §5.10.4 */
    char uds[VSOCK_UDS_MAX + 1];
    int listen_fd, ep, kick_fd;
    bool listening; /* uds is ours to remove */

    /* Under dev.lock: */
    pthread_t thread;
    bool started, quit, warned;
    struct conn *conns[MAX_CONNS];
    uint32_t next_gen, next_port;
    unsigned rr; /* the slot the next receive pass starts at */
    struct vsock_hdr rst[MAX_RST];
    unsigned nr_rst;
    bool rx_held; /* rx_elem popped and not yet used */
    struct virtq_elem rx_elem, tx_elem;
    uint8_t data[MAX_PKT];
};

static void warn_once(struct vsock *v, const char *why)
{
    if (v->warned)
        return;
    v->warned = true;
    log_err("virtio-vsock %d: %s (more such packets go unreported)", v->dev.index, why);
}

static struct conn *find(struct vsock *v, uint32_t local_port, uint32_t peer_port)
{
    for (unsigned i = 0; i < MAX_CONNS; i++) {
        struct conn *c = v->conns[i];

        if (c && c->state != C_LINE && c->local_port == local_port && c->peer_port == peer_port)
            return c;
    }
    return NULL;
}

/* A header from the host's side of c. */
static struct vsock_hdr hdr_of(const struct vsock *v, const struct conn *c, uint16_t op)
{
    return (struct vsock_hdr){.src_cid = HOST_CID,
                              .dst_cid = v->config.guest_cid,
                              .src_port = c->local_port,
                              .dst_port = c->peer_port,
                              .type = VIRTIO_VSOCK_TYPE_STREAM,
                              .op = op,
                              .buf_alloc = CONN_BUF,
                              .fwd_cnt = c->fwd_cnt};
}

/* Queues an RST from (cid, local_port) to the guest's peer_port, the answer
 * to a packet for no connection; dropped when MAX_RST wait, which only a
 * guest that posts no receive buffers reaches. A connection's own RST
 * waits in its slot instead (conn_kill). */
static void queue_rst(struct vsock *v, uint64_t cid, uint32_t local_port, uint32_t peer_port)
{
    for (unsigned i = 0; i < v->nr_rst; i++)
        if (v->rst[i].src_cid == cid && v->rst[i].src_port == local_port &&
            v->rst[i].dst_port == peer_port)
            return; /* a guest repeating itself gets one answer */
    if (v->nr_rst == MAX_RST)
        return;
    v->rst[v->nr_rst++] = (struct vsock_hdr){.src_cid = cid,
                                             .dst_cid = v->config.guest_cid,
                                             .src_port = local_port,
                                             .dst_port = peer_port,
                                             .type = VIRTIO_VSOCK_TYPE_STREAM,
                                             .op = VIRTIO_VSOCK_OP_RST};
}

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

static void conn_free(struct vsock *v, struct conn *c)
{
    v->conns[c->slot] = NULL;
    conn_close(c);
    free(c);
}

/* Ends c at once; the guest hears an RST if it knows of c. */
static void conn_kill(struct vsock *v, struct conn *c)
{
    if (c->state == C_LINE || c->state == C_REQUEST) {
        conn_free(v, c);
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
static bool conn_check_done(struct vsock *v, struct conn *c)
{
    if (c->len)
        return false;
    if (c->peer_shut == SHUTDOWN_BOTH ||
        (c->eof_sent && (c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_SEND))) {
        conn_kill(v, c);
        return true;
    }
    return false;
}

/* Writes what the guest sent to the Unix socket, as far as it takes it.
 * Returns whether c ended. */
static bool conn_flush(struct vsock *v, struct conn *c)
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
            conn_kill(v, c);
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
    return conn_check_done(v, c);
}

/* VIRTIO_VSOCK_OP_RW from the guest: payload len of chain e into c's ring. */
static void conn_data(struct vsock *v, struct conn *c, const struct virtq_elem *e, uint32_t len)
{
    uint32_t tail, first;

    if (c->state != C_OPEN || (c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_SEND) ||
        len > CONN_BUF - c->len) {
        conn_kill(v, c); /* data out of turn, or beyond its credit */
        return;
    }
    if (!c->ring && !(c->ring = malloc(CONN_BUF))) {
        conn_kill(v, c);
        return;
    }
    tail = (c->head + c->len) & (CONN_BUF - 1);
    first = len < CONN_BUF - tail ? len : CONN_BUF - tail;
    virtq_elem_read(e, HDR_LEN, c->ring + tail, first);
    virtq_elem_read(e, HDR_LEN + first, c->ring, len - first);
    c->len += len;
    conn_flush(v, c);
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
static void guest_connect(struct vsock *v, const struct vsock_hdr *h)
{
    struct conn *c;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int err = fd < 0 ? -errno : uds_connect(v, fd, h->dst_port);

    if (err && err != -EAGAIN) {
        if (fd >= 0)
            close(fd);
        queue_rst(v, HOST_CID, h->dst_port, h->src_port); /* refused */
        return;
    }
    c = conn_new(v, fd, err ? C_CONNECT : C_RESPONSE);
    if (!c) {
        queue_rst(v, HOST_CID, h->dst_port, h->src_port);
        return;
    }
    c->deadline = clock_now_ms() + CONNECT_TIMEOUT_MS;
    c->local_port = h->dst_port;
    c->peer_port = h->src_port;
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
}

/* One packet the guest sent (§5.10.6.4); the chain goes back afterwards. */
static void tx_packet(struct vsock *v, const struct virtq_elem *e)
{
    struct vsock_hdr h;
    struct conn *c;
    char ok[24];
    int n;

    if (virtq_elem_read(e, 0, &h, HDR_LEN)) {
        warn_once(v, "transmit chain shorter than the 44-byte header dropped");
        return;
    }
    /* §5.10.6.2: the guest speaks with its own CID, to the host alone;
     * a connection to another CID is refused. */
    if (h.src_cid != v->config.guest_cid) {
        warn_once(v, "packet with another source CID than the guest's dropped");
        return;
    }
    c = h.dst_cid == HOST_CID ? find(v, h.dst_port, h.src_port) : NULL;
    if (h.dst_cid != HOST_CID || h.type != VIRTIO_VSOCK_TYPE_STREAM ||
        h.len > e->out_len - HDR_LEN) {
        /* A socket type not offered, or a payload the chain does not hold. */
        if (c)
            conn_kill(v, c);
        else if (h.op != VIRTIO_VSOCK_OP_RST)
            queue_rst(v, h.dst_cid, h.dst_port, h.src_port);
        return;
    }
    if (c && c->state == C_DEAD) {
        /* Its RST is on the way; a new REQUEST on the same ports replaces
         * it, an RST from the guest makes it moot. */
        if (h.op != VIRTIO_VSOCK_OP_REQUEST && h.op != VIRTIO_VSOCK_OP_RST)
            return;
        conn_free(v, c);
        c = NULL;
    }
    if (!c) {
        if (h.op == VIRTIO_VSOCK_OP_REQUEST)
            guest_connect(v, &h);
        else if (h.op != VIRTIO_VSOCK_OP_RST)
            queue_rst(v, h.dst_cid, h.dst_port, h.src_port);
        return;
    }
    /* Every header carries the sender's buffer space (§5.10.6.3). */
    c->peer_buf_alloc = h.buf_alloc;
    c->peer_fwd_cnt = h.fwd_cnt;
    switch (h.op) {
    case VIRTIO_VSOCK_OP_RESPONSE:
        if (c->state != C_WAIT) {
            conn_kill(v, c);
            break;
        }
        n = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);
        /* A fresh socket's buffer always takes these few bytes. */
        if (send(c->fd, ok, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
            conn_kill(v, c);
            break;
        }
        c->state = C_OPEN;
        c->readable = true;
        break;
    case VIRTIO_VSOCK_OP_RW:
        conn_data(v, c, e, h.len);
        break;
    case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
        break; /* taken above */
    case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
        c->credit_due = true;
        break;
    case VIRTIO_VSOCK_OP_SHUTDOWN:
        if (c->state != C_OPEN) {
            conn_kill(v, c);
            break;
        }
        c->peer_shut |= h.flags & SHUTDOWN_BOTH;
        conn_flush(v, c);
        break;
    case VIRTIO_VSOCK_OP_RST:
        conn_free(v, c);
        break;
    default: /* a second REQUEST, or an unknown operation */
        conn_kill(v, c);
        break;
    }
}

/* Reads the host client's "CONNECT <port>\n" without taking any byte past
 * it; then the connection waits for a REQUEST to go to the guest. */
static void conn_line(struct vsock *v, struct conn *c)
{
    char *nl, *end;
    unsigned long port;
    ssize_t r = recv(c->fd, c->line, sizeof(c->line) - 1, MSG_PEEK | MSG_DONTWAIT);

    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        c->readable = false;
        return;
    }
    if (r <= 0) {
        conn_free(v, c);
        return;
    }
    c->line[r] = 0;
    nl = memchr(c->line, '\n', (size_t)r);
    if (!nl) {
        if (r == sizeof(c->line) - 1)
            conn_free(v, c); /* no line this long is valid */
        else
            c->readable = false; /* more to come; the next edge says when */
        return;
    }
    if (recv(c->fd, c->line, (size_t)(nl - c->line + 1), MSG_DONTWAIT) != nl - c->line + 1) {
        conn_free(v, c);
        return;
    }
    *nl = 0;
    if (strncmp(c->line, "CONNECT ", 8) || !isdigit((unsigned char)c->line[8])) {
        conn_free(v, c);
        return;
    }
    errno = 0;
    port = strtoul(c->line + 8, &end, 10);
    if (errno || *end || port > UINT32_MAX || !virtio_running(&v->dev)) {
        conn_free(v, c); /* a bad line, or no driver to connect to */
        return;
    }
    c->peer_port = (uint32_t)port;
    do {
        c->local_port = v->next_port++;
        if (v->next_port < EPHEMERAL_PORT) /* wrapped */
            v->next_port = EPHEMERAL_PORT;
    } while (find(v, c->local_port, c->peer_port));
    c->state = C_REQUEST;
}

/* Accepts every pending host client. */
static void accept_clients(struct vsock *v)
{
    int fd;

    while ((fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
        conn_new(v, fd, C_LINE);
}

/* The guest's free buffer space for c (§5.10.6.3); a peer_fwd_cnt that
 * claims more than was sent only gives it less. */
static uint32_t peer_credit(const struct conn *c)
{
    uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

    return in_flight < c->peer_buf_alloc ? c->peer_buf_alloc - in_flight : 0;
}

/* Whether c has a packet for the guest. */
static bool conn_wants_rx(const struct conn *c)
{
    switch (c->state) {
    case C_REQUEST:
    case C_RESPONSE:
    case C_DEAD:
        return true;
    case C_OPEN:
        return c->credit_due || (c->host_eof && !c->eof_sent) ||
               (c->readable && !c->host_eof && !(c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_RCV) &&
                peer_credit(c));
    default:
        return false;
    }
}

/* Fills receive chain e (room for at least a header) with c's next packet.
 * Returns its length, or 0 if c had none after all (e stays unused). */
static uint32_t conn_rx(struct vsock *v, struct conn *c, const struct virtq_elem *e)
{
    struct vsock_hdr h;
    uint32_t room = e->in_len - HDR_LEN < MAX_PKT ? (uint32_t)(e->in_len - HDR_LEN) : MAX_PKT;
    uint32_t want;
    ssize_t r;

    if (c->state == C_DEAD) {
        h = hdr_of(v, c, VIRTIO_VSOCK_OP_RST);
        virtq_elem_write(e, 0, &h, HDR_LEN);
        conn_free(v, c);
        return HDR_LEN;
    }
    if (c->state == C_REQUEST || c->state == C_RESPONSE) {
        h = hdr_of(v, c,
                   c->state == C_REQUEST ? VIRTIO_VSOCK_OP_REQUEST : VIRTIO_VSOCK_OP_RESPONSE);
        if (c->state == C_REQUEST)
            c->deadline = clock_now_ms() + CONNECT_TIMEOUT_MS;
        c->state = c->state == C_REQUEST ? C_WAIT : C_OPEN;
    } else if (room && c->readable && !c->host_eof && !(c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_RCV) &&
               peer_credit(c)) {
        want = peer_credit(c) < room ? peer_credit(c) : room;
        r = recv(c->fd, v->data, want, MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            c->readable = false;
            return conn_wants_rx(c) ? conn_rx(v, c, e) : 0;
        }
        if (r < 0) {
            conn_kill(v, c);
            return conn_rx(v, c, e); /* its RST */
        }
        if (r == 0) {
            c->host_eof = true;
            return conn_rx(v, c, e);
        }
        h = hdr_of(v, c, VIRTIO_VSOCK_OP_RW);
        h.len = (uint32_t)r;
        virtq_elem_write(e, HDR_LEN, v->data, (uint64_t)r);
        c->tx_cnt += (uint32_t)r;
    } else if (c->host_eof && !c->eof_sent) {
        /* The host client sends no more; it may still read. */
        h = hdr_of(v, c, VIRTIO_VSOCK_OP_SHUTDOWN);
        h.flags = VIRTIO_VSOCK_SHUTDOWN_SEND;
        c->eof_sent = true;
    } else if (c->credit_due) {
        h = hdr_of(v, c, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
    } else {
        return 0;
    }
    c->fwd_sent = c->fwd_cnt;
    c->credit_due = false;
    virtq_elem_write(e, 0, &h, HDR_LEN);
    if (h.op == VIRTIO_VSOCK_OP_SHUTDOWN)
        conn_check_done(v, c);
    return HDR_LEN + h.len;
}

/* Makes sure rx_elem holds a receive chain; false if the guest posted none
 * (its notification brings the I/O thread back) or broke the ring. */
static bool rx_chain(struct vsock *v)
{
    if (v->rx_held)
        return true;
    if (virtio_pop(&v->dev, RXQ, &v->rx_elem) != 1)
        return false;
    if (v->rx_elem.in_len < HDR_LEN) {
        virtio_fail(&v->dev, "receive buffer shorter than the 44-byte header");
        return false;
    }
    v->rx_held = true;
    return true;
}

static void rx_push(struct vsock *v, uint32_t len)
{
    virtio_push(&v->dev, RXQ, &v->rx_elem, len);
    v->rx_held = false;
}

/* Hands the guest every packet waiting that its receive buffers hold:
 * resets first, then the connections in turn, one packet each a round. */
static void rx_fill(struct vsock *v)
{
    bool progress = true;

    while (progress) {
        progress = false;
        while (v->nr_rst) {
            if (!rx_chain(v))
                return;
            virtq_elem_write(&v->rx_elem, 0, &v->rst[0], HDR_LEN);
            memmove(&v->rst[0], &v->rst[1], --v->nr_rst * sizeof(v->rst[0]));
            rx_push(v, HDR_LEN);
        }
        for (unsigned n = 0; n < MAX_CONNS; n++) {
            unsigned i = (v->rr + n) % MAX_CONNS;
            struct conn *c = v->conns[i];
            uint32_t len;

            if (!c || !conn_wants_rx(c))
                continue;
            if (!rx_chain(v))
                return;
            len = conn_rx(v, c, &v->rx_elem);
            if (len) {
                rx_push(v, len);
                v->rr = (i + 1) % MAX_CONNS;
                progress = true;
            }
        }
    }
}

/* Everything that can move now: the guest's packets, host clients' lines,
 * data the Unix sockets take, then packets to the guest. dev.lock held;
 * any thread may call it. */
static void vsock_pump(struct vsock *v)
{
    while (virtio_pop(&v->dev, TXQ, &v->tx_elem) == 1) {
        tx_packet(v, &v->tx_elem);
        virtio_push(&v->dev, TXQ, &v->tx_elem, 0);
    }
    for (unsigned i = 0; i < MAX_CONNS; i++) {
        struct conn *c = v->conns[i];

        if (c && c->state == C_LINE && c->readable)
            conn_line(v, c);
        else if (c && c->state == C_OPEN && c->writable && c->len)
            conn_flush(v, c);
    }
    rx_fill(v);
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
                conn_kill(v, c);
                continue;
            }
        }
        left = c->deadline > now ? c->deadline - now : 0;
        if (!left && act) {
            conn_kill(v, c);
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
            warn_once(v, "cannot read the notification eventfd");
    } else if (slot < MAX_CONNS && (c = v->conns[slot]) && c->gen == tag >> 32) {
        /* A stale event of a closed slot fails the generation check. */
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            c->readable = true;
        if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            c->writable = true;
    }
}

static void *io_thread(void *arg)
{
    struct vsock *v = arg;
    struct epoll_event ev[32];
    int timeout = -1;

    for (;;) {
        int n = epoll_wait(v->ep, ev, 32, timeout);

        pthread_mutex_lock(&v->dev.lock);
        if (v->quit) {
            pthread_mutex_unlock(&v->dev.lock);
            break;
        }
        for (int i = 0; i < n; i++)
            vsock_event(v, ev[i].data.u64, ev[i].events);
        vsock_timers(v, true);
        vsock_pump(v);
        timeout = vsock_timers(v, false);
        pthread_mutex_unlock(&v->dev.lock);
    }
    return NULL;
}

static void kick(struct vsock *v)
{
    uint64_t one = 1;

    if (write(v->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        warn_once(v, "cannot signal the I/O thread");
}

static void vsock_notify(struct virtio_dev *d, unsigned q)
{
    (void)q;
    kick((struct vsock *)d);
}

/* The guest's sockets are gone with its driver: every connection ends,
 * each host client sees its socket close. */
static void vsock_reset(struct virtio_dev *d)
{
    struct vsock *v = (struct vsock *)d;

    for (unsigned i = 0; i < MAX_CONNS; i++)
        if (v->conns[i])
            conn_free(v, v->conns[i]);
    v->nr_rst = 0;
    v->rx_held = false;
}

static void vsock_destroy(struct virtio_dev *d)
{
    struct vsock *v = (struct vsock *)d;

    if (v->started) {
        pthread_mutex_lock(&d->lock);
        v->quit = true;
        kick(v);
        pthread_mutex_unlock(&d->lock);
        pthread_join(v->thread, NULL);
    }
    vsock_reset(d);
    if (v->listening)
        unlink(v->uds);
    if (v->listen_fd >= 0)
        close(v->listen_fd);
    if (v->kick_fd >= 0)
        close(v->kick_fd);
    if (v->ep >= 0)
        close(v->ep);
    virtio_dev_fini(d);
    free(v);
}

static const struct virtio_dev_ops vsock_ops = {
    .name = "virtio-vsock",
    .device_id = 19,
    .notify = vsock_notify,
    .reset = vsock_reset,
    .destroy = vsock_destroy,
};

static int watch(struct vsock *v, int fd, uint64_t tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};

    return epoll_ctl(v->ep, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

/* The listening socket and the poll set; one line on failure. */
static int open_sockets(struct vsock *v)
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
    if (err) {
        log_err("--vsock uds=%s: %s", v->uds, strerror(-err));
        return err;
    }
    return 0;
}

struct virtio_dev *virtio_vsock_create(struct vm *vm, uint32_t cid, const char *uds)
{
    struct vsock *v = calloc(1, sizeof(*v));
    int err;

    if (!v) {
        log_err("--vsock: out of memory");
        return NULL;
    }
    v->listen_fd = v->kick_fd = v->ep = -1;
    snprintf(v->uds, sizeof(v->uds), "%s", uds);
    v->config.guest_cid = cid;
    v->next_port = EPHEMERAL_PORT;
    err = virtio_dev_init(&v->dev, &vsock_ops, vm, 1ULL << VIRTIO_VSOCK_F_STREAM, NR_VQ, &v->config,
                          sizeof(v->config));
    if (err) {
        log_err("--vsock: %s", strerror(-err));
        free(v);
        return NULL;
    }
    if (open_sockets(v))
        goto fail;
    err = thread_start(&v->thread, "vsock", SECCOMP_IO, io_thread, v);
    if (err) {
        log_err("--vsock: cannot start its I/O thread: %s", strerror(-err));
        goto fail;
    }
    v->started = true;
    return &v->dev;
fail:
    vsock_destroy(&v->dev);
    return NULL;
}
