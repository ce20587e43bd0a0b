/* Guest RAM for tests that read back what a table builder wrote (test_acpi,
 * test_mptable): RAM_FIXTURE_SIZE bytes, to define before including, and
 * readers that fail the test outside RAM. Include after cmocka.h. */
#ifndef VX86_TESTS_RAM_FIXTURE_H
#define VX86_TESTS_RAM_FIXTURE_H

#include <string.h>

#include "vm/mem.h"

static struct guest_mem mem;

static int setup(void **state)
{
    (void)state;
    return mem_init(&mem, RAM_FIXTURE_SIZE);
}

static int teardown(void **state)
{
    (void)state;
    mem_destroy(&mem);
    return 0;
}

static const uint8_t *at(uint64_t gpa, uint64_t len)
{
    const uint8_t *p = mem_ptr(&mem, gpa, len);

    assert_non_null(p);
    return p;
}

/* A little-endian field of 1 to 8 bytes. */
static uint64_t get(uint64_t gpa, unsigned bytes)
{
    uint64_t v = 0;

    memcpy(&v, at(gpa, bytes), bytes);
    return v;
}

/* The byte sum of len bytes: 0 for a table whose checksum is right. */
static uint8_t sum(uint64_t gpa, uint64_t len)
{
    const uint8_t *p = at(gpa, len);
    uint8_t s = 0;

    for (uint64_t i = 0; i < len; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

#endif
