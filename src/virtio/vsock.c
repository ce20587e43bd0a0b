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
 *
 * This file is the queue side: the guest's packets and the packets to it.
 * The Unix sockets, the connections' lifetimes and the event-loop pass
 * are vsock_uds.c's; vsock_conn.h holds what both share.
 */
#include "virtio/vsock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "virtio/vsock_conn.h"
#include "vm/vm.h"

void vsock_warn_once(struct vsock *v, const char *why)
{
    if (v->warned)
        return;
    v->warned = true;
    log_err("virtio-vsock %d: %s (more such packets go unreported)", v->dev.index, why);
}

struct conn *vsock_find(struct vsock *v, uint32_t local_port, uint32_t peer_port)
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
void vsock_queue_rst(struct vsock *v, uint64_t cid, uint32_t local_port, uint32_t peer_port)
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

/* VIRTIO_VSOCK_OP_RW from the guest: payload len of chain e into c's ring. */
static void conn_data(struct vsock *v, struct conn *c, const struct virtq_elem *e, uint32_t len)
{
    uint32_t tail, first;

    if (c->state != C_OPEN || (c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_SEND) ||
        len > CONN_BUF - c->len) {
        vsock_conn_kill(v, c); /* data out of turn, or beyond its credit */
        return;
    }
    if (!c->ring && !(c->ring = malloc(CONN_BUF))) {
        vsock_conn_kill(v, c);
        return;
    }
    tail = (c->head + c->len) & (CONN_BUF - 1);
    first = len < CONN_BUF - tail ? len : CONN_BUF - tail;
    virtq_elem_read(e, HDR_LEN, c->ring + tail, first);
    virtq_elem_read(e, HDR_LEN + first, c->ring, len - first);
    c->len += len;
    vsock_conn_flush(v, c);
}

/* One packet the guest sent (§5.10.6.4); the chain goes back afterwards. */
static void tx_packet(struct vsock *v, const struct virtq_elem *e)
{
    struct vsock_hdr h;
    struct conn *c;

    if (virtq_elem_read(e, 0, &h, HDR_LEN)) {
        vsock_warn_once(v, "transmit chain shorter than the 44-byte header dropped");
        return;
    }
    /* §5.10.6.2: the guest speaks with its own CID, to the host alone;
     * a connection to another CID is refused. */
    if (h.src_cid != v->config.guest_cid) {
        vsock_warn_once(v, "packet with another source CID than the guest's dropped");
        return;
    }
    c = h.dst_cid == HOST_CID ? vsock_find(v, h.dst_port, h.src_port) : NULL;
    if (h.dst_cid != HOST_CID || h.type != VIRTIO_VSOCK_TYPE_STREAM ||
        h.len > e->out_len - HDR_LEN) {
        /* A socket type not offered, or a payload the chain does not hold. */
        if (c)
            vsock_conn_kill(v, c);
        else if (h.op != VIRTIO_VSOCK_OP_RST)
            vsock_queue_rst(v, h.dst_cid, h.dst_port, h.src_port);
        return;
    }
    if (c && c->state == C_DEAD) {
        /* Its RST is on the way; a new REQUEST on the same ports replaces
         * it, an RST from the guest makes it moot. */
        if (h.op != VIRTIO_VSOCK_OP_REQUEST && h.op != VIRTIO_VSOCK_OP_RST)
            return;
        vsock_conn_free(v, c);
        c = NULL;
    }
    if (!c) {
        if (h.op == VIRTIO_VSOCK_OP_REQUEST)
            vsock_guest_connect(v, &h);
        else if (h.op != VIRTIO_VSOCK_OP_RST)
            vsock_queue_rst(v, h.dst_cid, h.dst_port, h.src_port);
        return;
    }
    /* Every header carries the sender's buffer space (§5.10.6.3). */
    c->peer_buf_alloc = h.buf_alloc;
    c->peer_fwd_cnt = h.fwd_cnt;
    switch (h.op) {
    case VIRTIO_VSOCK_OP_RESPONSE:
        if (c->state != C_WAIT) {
            vsock_conn_kill(v, c);
            break;
        }
        if (vsock_conn_answer(c)) {
            vsock_conn_kill(v, c);
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
            vsock_conn_kill(v, c);
            break;
        }
        c->peer_shut |= h.flags & SHUTDOWN_BOTH;
        vsock_conn_flush(v, c);
        break;
    case VIRTIO_VSOCK_OP_RST:
        vsock_conn_free(v, c);
        break;
    default: /* a second REQUEST, or an unknown operation */
        vsock_conn_kill(v, c);
        break;
    }
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
        vsock_conn_free(v, c);
        return HDR_LEN;
    }
    if (c->state == C_REQUEST || c->state == C_RESPONSE) {
        h = hdr_of(v, c,
                   c->state == C_REQUEST ? VIRTIO_VSOCK_OP_REQUEST : VIRTIO_VSOCK_OP_RESPONSE);
        if (c->state == C_REQUEST)
            vsock_conn_deadline(c);
        c->state = c->state == C_REQUEST ? C_WAIT : C_OPEN;
    } else if (room && c->readable && !c->host_eof && !(c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_RCV) &&
               peer_credit(c)) {
        want = peer_credit(c) < room ? peer_credit(c) : room;
        r = vsock_conn_recv(c, v->data, want);
        if (r == -EAGAIN)
            return conn_wants_rx(c) ? conn_rx(v, c, e) : 0;
        if (r < 0) {
            vsock_conn_kill(v, c);
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
        vsock_conn_check_done(v, c);
    return HDR_LEN + h.len;
}

/* Makes sure rx_elem holds a receive chain; false if the guest posted none
 * (its notification brings the loop back) or broke the ring. */
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
void vsock_pump(struct vsock *v)
{
    while (virtio_pop(&v->dev, TXQ, &v->tx_elem) == 1) {
        tx_packet(v, &v->tx_elem);
        virtio_push(&v->dev, TXQ, &v->tx_elem, 0);
    }
    for (unsigned i = 0; i < MAX_CONNS; i++) {
        struct conn *c = v->conns[i];

        if (c && c->state == C_LINE && c->readable)
            vsock_conn_line(v, c);
        else if (c && c->state == C_OPEN && c->writable && c->len)
            vsock_conn_flush(v, c);
    }
    rx_fill(v);
}

static void vsock_notify(struct virtio_dev *d, unsigned q)
{
    (void)q;
    vsock_kick((struct vsock *)d);
}

/* The guest's sockets are gone with its driver: every connection ends,
 * each host client sees its socket close. */
static void vsock_reset(struct virtio_dev *d)
{
    struct vsock *v = (struct vsock *)d;

    for (unsigned i = 0; i < MAX_CONNS; i++)
        if (v->conns[i])
            vsock_conn_free(v, v->conns[i]);
    v->nr_rst = 0;
    v->rx_held = false;
}

static void vsock_destroy(struct virtio_dev *d)
{
    struct vsock *v = (struct vsock *)d;

    vsock_reset(d);
    vsock_uds_close(v);
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
    if (vsock_uds_open(v, vm->loop)) {
        vsock_destroy(&v->dev);
        return NULL;
    }
    return &v->dev;
}
