/*
 * virtio-vsock's insides, shared by the device's queue side (vsock.c) and
 * its Unix-socket back end (vsock_uds.c): the packet header, a connection
 * and the device's state. Every function here runs under dev.lock.
 */
#ifndef VX86_VIRTIO_VSOCK_CONN_H
#define VX86_VIRTIO_VSOCK_CONN_H

#include <stdbool.h>
#include <sys/types.h>
#include <stdint.h>

#include "util/loop.h"
#include "virtio/virtio.h"
#include "virtio/vsock.h"

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

    /* The machine's loop: ep_watch on ep, timer for the deadlines. */
    struct loop_watch ep_watch;
    struct loop_timer timer;

    /* Under dev.lock: */
    bool warned;
    struct conn *conns[MAX_CONNS];
    uint32_t next_gen, next_port;
    unsigned rr; /* the slot the next receive pass starts at */
    struct vsock_hdr rst[MAX_RST];
    unsigned nr_rst;
    bool rx_held; /* rx_elem popped and not yet used */
    struct virtq_elem rx_elem, tx_elem;
    uint8_t data[MAX_PKT];
};

/* vsock.c: the queue side. */
void vsock_warn_once(struct vsock *v, const char *why);
/* The connection of (local_port, peer_port), past its CONNECT line; NULL: none. */
struct conn *vsock_find(struct vsock *v, uint32_t local_port, uint32_t peer_port);
void vsock_queue_rst(struct vsock *v, uint64_t cid, uint32_t local_port, uint32_t peer_port);
void vsock_pump(struct vsock *v);

/* vsock_uds.c: the Unix sockets. */
void vsock_conn_free(struct vsock *v, struct conn *c);
void vsock_conn_kill(struct vsock *v, struct conn *c);
bool vsock_conn_check_done(struct vsock *v, struct conn *c);
bool vsock_conn_flush(struct vsock *v, struct conn *c);
void vsock_guest_connect(struct vsock *v, const struct vsock_hdr *h);
void vsock_conn_line(struct vsock *v, struct conn *c);
/* The guest accepted host-initiated c: "OK <local_port>\n" to the client.
 * 0, or -1 if the socket did not take it. */
int vsock_conn_answer(struct conn *c);
/* Up to len bytes from c's socket: the count, 0 at its end, -EAGAIN when
 * none wait (c->readable then false), another -errno on error. */
ssize_t vsock_conn_recv(struct conn *c, void *buf, size_t len);
/* c waits CONNECT_TIMEOUT_MS from now for the guest's answer. */
void vsock_conn_deadline(struct conn *c);
/* Wakes the loop for the device (a queue notification). Any thread. */
void vsock_kick(struct vsock *v);
/* The listening socket, the epoll set and their watch on loop; one line
 * on failure. vsock_uds_close undoes it (safe after a failed open). */
int vsock_uds_open(struct vsock *v, struct loop *loop);
void vsock_uds_close(struct vsock *v);

#endif
