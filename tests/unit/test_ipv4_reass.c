/* net/ipv4_reass.c: the guest's IPv4 fragments put together. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/ipv4_reass.h"

#define ETH 14
#define MF  0x2000

static uint8_t payload[6000];

/* One Ethernet frame with an IPv4 fragment of payload[off, off + n). */
static size_t fragment(uint8_t *f, uint16_t id, size_t off, size_t n, bool more, uint8_t ihl)
{
    uint8_t *ip = f + ETH;
    size_t hl = ihl * 4u;
    uint16_t frag = (uint16_t)(off / 8) | (more ? MF : 0);

    memset(f, 0, ETH + hl);
    f[12] = 0x08;
    ip[0] = (uint8_t)(0x40 | ihl);
    ip[2] = (uint8_t)((hl + n) >> 8);
    ip[3] = (uint8_t)(hl + n);
    ip[4] = (uint8_t)(id >> 8);
    ip[5] = (uint8_t)id;
    ip[6] = (uint8_t)(frag >> 8);
    ip[7] = (uint8_t)frag;
    ip[8] = 64;
    ip[9] = 17;
    memcpy(ip + 12, "\x0a\x00\x02\x0f\x0a\x00\x02\x02", 8);
    memset(ip + 20, 0x01, hl - 20); /* options: NOPs */
    memcpy(ip + hl, payload + off, n);
    return ETH + hl + n;
}

static uint16_t sum16(const uint8_t *h, size_t len)
{
    uint32_t s = 0;

    for (size_t i = 0; i < len; i += 2)
        s += (uint32_t)(h[i] << 8 | h[i + 1]);
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

/* The datagram of payload[0, n) as one frame, with a valid header. */
static void check_whole(const uint8_t *out, size_t len, size_t n, uint8_t ihl)
{
    const uint8_t *ip = out + ETH;

    assert_int_equal(len, ETH + ihl * 4u + n);
    assert_int_equal(ip[0], 0x40 | ihl);
    assert_int_equal(ip[2] << 8 | ip[3], ihl * 4u + n);
    assert_int_equal(ip[6] << 8 | ip[7], 0);
    assert_int_equal(sum16(ip, ihl * 4u), 0xffff);
    assert_memory_equal(ip + ihl * 4u, payload, n);
}

static void setup_payload(void)
{
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7 + 3);
}

static void test_not_a_fragment(void **state)
{
    struct ipv4_reass *r = ipv4_reass_new();
    uint8_t f[2000];
    const uint8_t *out;
    size_t len = fragment(f, 1, 0, 1000, false, 5), out_len;

    (void)state;
    assert_int_equal(ipv4_reass_add(r, f, len, 0, &out, &out_len), IPV4_WHOLE);
    f[13] = 0xdd; /* IPv6 */
    assert_int_equal(ipv4_reass_add(r, f, len, 0, &out, &out_len), IPV4_WHOLE);
    assert_int_equal(ipv4_reass_add(r, f, 20, 0, &out, &out_len), IPV4_WHOLE);
    ipv4_reass_free(r);
}

/* In order, backwards (the last first: what crashed libslirp) and with
 * options in the header. */
static void test_orders(void **state)
{
    static const size_t cut[] = {0, 1480, 2960, 4000};
    struct ipv4_reass *r = ipv4_reass_new();
    uint8_t f[2000];
    const uint8_t *out;
    size_t out_len, len;

    (void)state;
    setup_payload();
    for (int i = 0; i < 3; i++) {
        len = fragment(f, 7, cut[i], cut[i + 1] - cut[i], i < 2, 5);
        assert_int_equal(ipv4_reass_add(r, f, len, 0, &out, &out_len),
                         i < 2 ? IPV4_HELD : IPV4_DONE);
    }
    check_whole(out, out_len, 4000, 5);
    for (int i = 2; i >= 0; i--) {
        len = fragment(f, 8, cut[i], cut[i + 1] - cut[i], i < 2, 7);
        assert_int_equal(ipv4_reass_add(r, f, len, 0, &out, &out_len),
                         i > 0 ? IPV4_HELD : IPV4_DONE);
    }
    check_whole(out, out_len, 4000, 7);
    ipv4_reass_free(r);
}

/* Duplicates and overlaps complete the datagram all the same; two
 * datagrams interleaved, by identification. */
static void test_overlap_interleave(void **state)
{
    struct ipv4_reass *r = ipv4_reass_new();
    uint8_t f[3000];
    const uint8_t *out;
    size_t out_len;

    (void)state;
    setup_payload();
    assert_int_equal(ipv4_reass_add(r, f, fragment(f, 1, 0, 1000, true, 5), 0, &out, &out_len),
                     IPV4_HELD);
    assert_int_equal(ipv4_reass_add(r, f, fragment(f, 2, 800, 200, false, 5), 0, &out, &out_len),
                     IPV4_HELD);
    assert_int_equal(ipv4_reass_add(r, f, fragment(f, 1, 0, 1000, true, 5), 0, &out, &out_len),
                     IPV4_HELD);
    assert_int_equal(ipv4_reass_add(r, f, fragment(f, 1, 504, 1000, true, 5), 0, &out, &out_len),
                     IPV4_HELD);
    assert_int_equal(ipv4_reass_add(r, f, fragment(f, 2, 0, 800, true, 5), 0, &out, &out_len),
                     IPV4_DONE);
    check_whole(out, out_len, 1000, 5);
    assert_int_equal(ipv4_reass_add(r, f, fragment(f, 1, 1504, 496, false, 5), 0, &out, &out_len),
                     IPV4_DONE);
    check_whole(out, out_len, 2000, 5);
    ipv4_reass_free(r);
}

/* Malformed fragments are dropped, never passed on: a payload not a
 * multiple of 8 before the last, one reaching past 65,535 bytes, a last
 * fragment that contradicts an earlier one, a truncated frame. */
static void test_malformed(void **state)
{
    struct ipv4_reass *r = ipv4_reass_new();
    static uint8_t f[2000];
    const uint8_t *out;
    size_t out_len, len;

    (void)state;
    setup_payload();
    assert_int_equal(ipv4_reass_add(r, f, fragment(f, 3, 0, 1001, true, 5), 0, &out, &out_len),
                     IPV4_HELD);
    len = fragment(f, 4, 0, 1000, false, 5);
    f[ETH + 6] = 0x1f; /* offset 8191 * 8: past the largest datagram */
    f[ETH + 7] = 0xff;
    assert_int_equal(ipv4_reass_add(r, f, len, 0, &out, &out_len), IPV4_HELD);
    assert_int_equal(ipv4_reass_add(r, f, fragment(f, 5, 0, 800, true, 5), 0, &out, &out_len),
                     IPV4_HELD);
    assert_int_equal(ipv4_reass_add(r, f, fragment(f, 5, 800, 200, false, 5), 0, &out, &out_len),
                     IPV4_DONE);
    /* A last fragment at 1000, then one saying the datagram ends at 1200:
     * given up; the first fragment alone completes nothing. */
    assert_int_equal(ipv4_reass_add(r, f, fragment(f, 6, 800, 200, false, 5), 0, &out, &out_len),
                     IPV4_HELD);
    assert_int_equal(ipv4_reass_add(r, f, fragment(f, 6, 1000, 200, false, 5), 0, &out, &out_len),
                     IPV4_HELD);
    assert_int_equal(ipv4_reass_add(r, f, fragment(f, 6, 0, 800, true, 5), 0, &out, &out_len),
                     IPV4_HELD);
    len = fragment(f, 7, 0, 800, true, 5);
    assert_int_equal(ipv4_reass_add(r, f, len - 1, 0, &out, &out_len), IPV4_HELD);
    ipv4_reass_free(r);
}

/* A datagram not completed in time is given up; more datagrams at once
 * than there are slots give up the oldest. */
static void test_timeout_and_slots(void **state)
{
    struct ipv4_reass *r = ipv4_reass_new();
    uint8_t f[2000];
    const uint8_t *out;
    size_t out_len;

    (void)state;
    setup_payload();
    assert_int_equal(ipv4_reass_add(r, f, fragment(f, 9, 0, 800, true, 5), 0, &out, &out_len),
                     IPV4_HELD);
    assert_int_equal(ipv4_reass_add(r, f, fragment(f, 9, 800, 200, false, 5),
                                    IPV4_REASS_TIMEOUT_MS + 1, &out, &out_len),
                     IPV4_HELD);
    for (uint16_t id = 100; id < 100 + IPV4_REASS_SLOTS + 1; id++)
        assert_int_equal(
            ipv4_reass_add(r, f, fragment(f, id, 0, 800, true, 5), 40000u + id, &out, &out_len),
            IPV4_HELD);
    /* 100 was the oldest: gone; the last one is still there. */
    assert_int_equal(
        ipv4_reass_add(r, f, fragment(f, 100, 800, 200, false, 5), 40200, &out, &out_len),
        IPV4_HELD);
    assert_int_equal(ipv4_reass_add(r, f, fragment(f, 100 + IPV4_REASS_SLOTS, 800, 200, false, 5),
                                    40200, &out, &out_len),
                     IPV4_DONE);
    check_whole(out, out_len, 1000, 5);
    ipv4_reass_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_a_fragment),     cmocka_unit_test(test_orders),
        cmocka_unit_test(test_overlap_interleave), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_timeout_and_slots),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
