/*
 * Reassembly of the IPv4 datagrams a guest sends in fragments (RFC 791
 * §3.2, RFC 815's hole list kept as a bitmap of 8-byte blocks), for a
 * backend that must not see fragments: libslirp 4.7.0 crashes on a
 * datagram whose last fragment reaches it first.
 *
 * Every frame is the guest's, so hostile: a few datagrams at a time
 * (IPV4_REASS_SLOTS, the oldest given up for a new one), each at most
 * 65,535 bytes of IP datagram, given up after IPV4_REASS_TIMEOUT_MS without
 * completing; overlapping fragments overwrite what came before. One thread
 * at a time per struct ipv4_reass.
 */
#ifndef VX86_NET_IPV4_REASS_H
#define VX86_NET_IPV4_REASS_H

#include <stddef.h>
#include <stdint.h>

#define IPV4_REASS_SLOTS      4
#define IPV4_REASS_TIMEOUT_MS 30000 /* RFC 791 §3.2: a timer of 15 s or more */

struct ipv4_reass;

struct ipv4_reass *ipv4_reass_new(void);
void ipv4_reass_free(struct ipv4_reass *r);

enum ipv4_reass_result {
    IPV4_WHOLE, /* frame is no IPv4 fragment: use it as it is */
    IPV4_DONE,  /* it completed a datagram: *out, *out_len (valid until the next call) */
    IPV4_HELD,  /* a fragment kept for later, or one dropped as malformed */
};

/*
 * Takes one Ethernet frame (len bytes) from the guest at time now_ms (a
 * monotonic clock). A completed datagram comes back as one Ethernet frame:
 * the first fragment's Ethernet and IP headers (options included), MF and
 * the offset cleared, the total length and the header checksum set.
 */
enum ipv4_reass_result ipv4_reass_add(struct ipv4_reass *r, const uint8_t *frame, size_t len,
                                      uint64_t now_ms, const uint8_t **out, size_t *out_len);

#endif
