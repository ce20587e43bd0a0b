/* The MP tables (boot/mptable.h) as an OS finds and reads them (MP
 * Specification 1.4 §4): offsets written out from the specification. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "boot/layout.h"
#include "boot/mptable.h"
#include "vm/vm.h"

#define RAM_FIXTURE_SIZE (16ULL << 20)
#include "ram_fixture.h"

/* §4: the floating pointer on a 16-byte boundary in 0xF0000-0xFFFFF. */
static uint64_t find_config(void)
{
    for (uint64_t a = 0xf0000; a < 0x100000; a += 16) {
        if (memcmp(at(a, 4), "_MP_", 4))
            continue;
        assert_int_equal(get(a + 8, 1), 1);  /* 16 bytes */
        assert_int_equal(get(a + 9, 1), 4);  /* version 1.4 */
        assert_int_equal(get(a + 11, 1), 0); /* a configuration table, no default */
        assert_int_equal(sum(a, 16), 0);
        return get(a + 4, 4);
    }
    fail_msg("no MP floating pointer");
    return 0;
}

static void check(int cpus)
{
    uint64_t c, p;
    uint32_t len, n;
    int cpu = 0, buses = 0, ioapics = 0, irqs = 0, lints = 0, pin2 = -1;

    assert_int_equal(mptable_build(&mem, cpus), 0);
    c = find_config();
    assert_true(c >= BOOT_MPTABLE && c < BOOT_MPTABLE + BOOT_MPTABLE_SIZE);
    assert_memory_equal(at(c, 4), "PCMP", 4);
    len = get(c + 4, 2);
    n = get(c + 34, 2);
    assert_true(c + len <= BOOT_MPTABLE + BOOT_MPTABLE_SIZE);
    assert_int_equal(sum(c, len), 0);
    assert_int_equal(get(c + 36, 4), 0xfee00000);
    p = c + 44;
    for (uint32_t i = 0; i < n; i++) {
        switch (get(p, 1)) {
        case 0:
            assert_int_equal(get(p + 1, 1), cpu);
            assert_int_equal(get(p + 3, 1), cpu == 0 ? 3 : 1); /* enabled, BSP */
            cpu++;
            p += 20;
            continue;
        case 1:
            assert_memory_equal(at(p + 2, 6), "ISA   ", 6);
            buses++;
            break;
        case 2:
            assert_int_equal(get(p + 3, 1), 1);
            assert_int_equal(get(p + 4, 4), 0xfec00000);
            ioapics++;
            break;
        case 3:
            if (get(p + 7, 1) == 2)
                pin2 = (int)get(p + 5, 1);
            irqs++;
            break;
        case 4:
            assert_int_equal(get(p + 6, 1), 0xff);
            lints++;
            break;
        default:
            fail_msg("entry type %u", get(p, 1));
        }
        p += 8;
    }
    assert_int_equal(p, c + len);
    assert_int_equal(cpu, cpus);
    assert_int_equal(buses, 1);
    assert_int_equal(ioapics, 1);
    assert_int_equal(irqs, 16); /* ExtINT on pin 0, 15 ISA IRQs */
    assert_int_equal(lints, 2);
    assert_int_equal(pin2, 0); /* the PIT's IRQ 0 */
}

static void test_mptable(void **state)
{
    (void)state;
    check(1);
    check(2);
    check(VM_MAX_CPUS);
    assert_int_equal(mptable_build(&mem, 0), -EINVAL);
    assert_int_equal(mptable_build(&mem, VM_MAX_CPUS + 1), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mptable),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
