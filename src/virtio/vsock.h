/*
 * virtio-vsock (VIRTIO 1.2 §5.10) with Firecracker's hybrid back end: the
 * guest's stream sockets meet Unix stream sockets on the host.
 *
 * Host to guest: vx86 listens on the Unix socket uds. A client connects and
 * writes "CONNECT <port>\n"; vx86 opens a stream to the guest's port and
 * answers "OK <host_port>\n" (host_port: the local port vx86 gave the
 * connection) once the guest accepts, or closes the client's socket if the
 * guest refuses, has no driver, or does not answer within 2 s.
 *
 * Guest to host: a connection to CID 2 (the host), port P, becomes a
 * connect() to the Unix socket "<uds>_<P>"; the guest sees a reset if
 * nothing listens there.
 *
 * Threads: the machine's event loop (vm->loop, util/loop.h) watches the
 * device's epoll set of the listening socket, the connections and an
 * eventfd that queue notifications signal; all its work runs under
 * dev.lock with non-blocking sockets, so a reset never finds a packet half
 * handled. virtio_vsock_create and destroy are the loop thread's.
 */
#ifndef VX86_VIRTIO_VSOCK_H
#define VX86_VIRTIO_VSOCK_H

#include <stddef.h>
#include <stdint.h>

#include "virtio/virtio.h"

struct vm;

/* §5.10.4: CIDs 0-2 are the hypervisor's and the host's, 0xffffffff is
 * VMADDR_CID_ANY; a guest takes one in between. */
#define VSOCK_CID_MIN 3
#define VSOCK_CID_MAX 0xfffffffeu

/* The longest uds path: "<uds>_4294967295" must fit sockaddr_un's 108
 * bytes with its NUL. */
#define VSOCK_UDS_MAX (108 - 1 - 11)

/* What is wrong with cid as the guest's CID, or NULL: for a message that
 * names the option or field first (--vsock and PUT /vsock say the same). */
static inline const char *vsock_cid_fault(uint64_t cid)
{
    _Static_assert(VSOCK_CID_MIN == 3 && VSOCK_CID_MAX == 4294967294u, "the text below");
    return cid < VSOCK_CID_MIN || cid > VSOCK_CID_MAX
               ? "expected a guest CID from 3 to 4294967294 (0-2 and 4294967295 are reserved)"
               : NULL;
}

/* What is wrong with a uds path of len bytes, or NULL (as vsock_cid_fault). */
static inline const char *vsock_uds_fault(size_t len)
{
    _Static_assert(VSOCK_UDS_MAX == 96, "the text below");
    if (!len)
        return "empty";
    return len > VSOCK_UDS_MAX ? "longer than 96 bytes (with _PORT appended it must fit a Unix "
                                 "socket address)"
                               : NULL;
}

/* Creates the device for guest CID cid (VSOCK_CID_MIN..MAX) and starts
 * listening on uds (at most VSOCK_UDS_MAX bytes, not an existing file).
 * Returns the device, not yet on a transport, or NULL after printing one
 * line. ops->destroy closes every connection and removes uds. */
struct virtio_dev *virtio_vsock_create(struct vm *vm, uint32_t cid, const char *uds);

#endif
