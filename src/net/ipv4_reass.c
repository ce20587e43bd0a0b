/* IPv4 reassembly for the guest's datagrams (the contract in ipv4_reass.h). */
#include "net/ipv4_reass.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ETH_LEN   14
#define IP_MAX    65535 /* an IP datagram's largest total length */
#define IP_MF     0x2000
#define IP_OFFSET 0x1fff
#define BLOCKS    (IP_MAX / 8 + 1) /* 8-byte blocks of payload */
#define HEAD_MAX  (ETH_LEN + 60)   /* Ethernet and the longest IP header */

/* One datagram being put together, by source, destination, protocol and
 * identification (RFC 791 §3.2). */
struct slot {
    bool used;
    uint8_t key[11]; /* source, destination, protocol, identification */
    uint64_t start_ms;
    uint32_t total; /* payload bytes, known once the last fragment came */
    bool have_last;
    size_t head_len; /* of head: 0 until the fragment at offset 0 came */
    uint8_t head[HEAD_MAX];
    uint8_t got[BLOCKS / 8 + 1]; /* 8-byte blocks of payload received */
    uint8_t *data;               /* IP_MAX bytes of payload */
};

struct ipv4_reass {
    struct slot slots[IPV4_REASS_SLOTS];
    uint8_t out[ETH_LEN + IP_MAX];
};

struct ipv4_reass *ipv4_reass_new(void)
{
    return calloc(1, sizeof(struct ipv4_reass));
}

void ipv4_reass_free(struct ipv4_reass *r)
{
    if (!r)
        return;
    for (int i = 0; i < IPV4_REASS_SLOTS; i++)
        free(r->slots[i].data);
    free(r);
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* The Internet checksum of an IP header of len bytes (RFC 791 §3.1). */
static uint16_t header_checksum(const uint8_t *h, size_t len)
{
    uint32_t sum = 0;

    for (size_t i = 0; i + 1 < len; i += 2)
        sum += be16(h + i);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void release(struct slot *s)
{
    s->used = false;
}

/* The slot for key: its own, else a free or timed-out one, else the
 * oldest, started afresh. NULL when no buffer can be had. */
static struct slot *slot_for(struct ipv4_reass *r, const uint8_t key[11], uint64_t now_ms)
{
    struct slot *s = NULL, *oldest = NULL;

    for (int i = 0; i < IPV4_REASS_SLOTS; i++) {
        struct slot *c = &r->slots[i];

        if (c->used && now_ms - c->start_ms > IPV4_REASS_TIMEOUT_MS)
            release(c);
        if (c->used && !memcmp(c->key, key, sizeof(c->key)))
            return c;
        if (!c->used && !s)
            s = c;
        if (c->used && (!oldest || c->start_ms < oldest->start_ms))
            oldest = c;
    }
    if (!s)
        s = oldest;
    if (!s->data && !(s->data = malloc(IP_MAX)))
        return NULL;
    s->used = true;
    memcpy(s->key, key, sizeof(s->key));
    s->start_ms = now_ms;
    s->total = 0;
    s->have_last = false;
    s->head_len = 0;
    memset(s->got, 0, sizeof(s->got));
    return s;
}

static bool complete(const struct slot *s)
{
    if (!s->have_last || !s->head_len)
        return false;
    for (uint32_t b = 0; b < (s->total + 7) / 8; b++)
        if (!(s->got[b / 8] >> (b % 8) & 1))
            return false;
    return true;
}

enum ipv4_reass_result ipv4_reass_add(struct ipv4_reass *r, const uint8_t *frame, size_t len,
                                      uint64_t now_ms, const uint8_t **out, size_t *out_len)
{
    const uint8_t *ip = frame + ETH_LEN;
    size_t ihl, total_len, plen, off;
    uint8_t key[11];
    uint16_t frag;
    struct slot *s;

    if (len < ETH_LEN + 20 || be16(frame + 12) != 0x0800)
        return IPV4_WHOLE;
    frag = be16(ip + 6);
    if (!(frag & (IP_MF | IP_OFFSET)))
        return IPV4_WHOLE;
    /* A fragment: malformed ones are dropped, never passed on. */
    ihl = (size_t)(ip[0] & 15) * 4;
    total_len = be16(ip + 2);
    if (ip[0] >> 4 != 4 || ihl < 20 || total_len < ihl || total_len > len - ETH_LEN)
        return IPV4_HELD;
    off = (size_t)(frag & IP_OFFSET) * 8;
    plen = total_len - ihl;
    /* All but the last carry a multiple of 8 bytes (RFC 791 §3.2); none
     * reaches past the largest datagram with the smallest header. */
    if (((frag & IP_MF) && (!plen || plen % 8)) || off + plen > IP_MAX - 20)
        return IPV4_HELD;
    memcpy(key, ip + 12, 8);
    key[8] = ip[9];
    memcpy(key + 9, ip + 4, 2);
    s = slot_for(r, key, now_ms);
    if (!s)
        return IPV4_HELD;
    if (!(frag & IP_MF)) {
        /* The last: the datagram's length, unless another last said else. */
        if (s->have_last && s->total != off + plen) {
            release(s);
            return IPV4_HELD;
        }
        s->total = (uint32_t)(off + plen);
        s->have_last = true;
    }
    if (s->have_last && off + plen > s->total) {
        release(s);
        return IPV4_HELD;
    }
    if (!off) {
        memcpy(s->head, frame, ETH_LEN + ihl);
        s->head_len = ETH_LEN + ihl;
    }
    memcpy(s->data + off, ip + ihl, plen);
    for (size_t b = off / 8; b < (off + plen + 7) / 8; b++)
        s->got[b / 8] |= (uint8_t)(1u << (b % 8));
    if (!complete(s))
        return IPV4_HELD;
    release(s);
    ihl = s->head_len - ETH_LEN;
    if (ihl + s->total > IP_MAX)
        return IPV4_HELD;
    memcpy(r->out, s->head, s->head_len);
    memcpy(r->out + s->head_len, s->data, s->total);
    put_be16(r->out + ETH_LEN + 2, (uint16_t)(ihl + s->total));
    put_be16(r->out + ETH_LEN + 6, 0); /* no MF, offset 0; DF is clear in a fragment */
    put_be16(r->out + ETH_LEN + 10, 0);
    put_be16(r->out + ETH_LEN + 10, header_checksum(r->out + ETH_LEN, ihl));
    *out = r->out;
    *out_len = s->head_len + s->total;
    return IPV4_DONE;
}
