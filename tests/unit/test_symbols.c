/* Kernel symbol maps for --profile (util/symbols.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/symbols.h"

/* System.map and /proc/kallsyms lines as a serial console captures them. */
static const char map_text[] = "vx86-initramfs: Linux 6.1.0\r\n"
                               "0000000000000000 A fixed_percpu_data\r\n"
                               "ffffffff81000000 T _text\r\n"
                               "ffffffff81000000 T startup_64\r\n"
                               "ffffffff81000100 t helper\r\n"
                               "ffffffff81000200 W weak_fn\r\n"
                               "ffffffff81800000 D some_data\r\n"
                               "ffffffff81001000 T _etext\r\n"
                               "ffffffffc0001000 t vring_del_virtqueue\t[virtio_ring]\r\n"
                               "ffffffffzzzz T bad_address\r\n"
                               "ffffffff81000300 Tno_space\r\n"
                               "ffffffff81000400 T \r\n"
                               "ffffffff81000500 T last_without_newline";

static void parses_text_symbols_only(void **state)
{
    struct symbols s;

    (void)state;
    assert_int_equal(symbols_parse_map(&s, map_text, strlen(map_text)), 0);
    /* _text and startup_64 share an address: the first name stays. */
    assert_int_equal(s.n, 6);
    assert_int_equal(s.v[0].addr, 0xffffffff81000000ULL);
    assert_string_equal(s.v[0].name, "_text");
    assert_string_equal(s.v[1].name, "helper");
    assert_string_equal(s.v[2].name, "weak_fn");
    assert_string_equal(s.v[3].name, "last_without_newline");
    assert_string_equal(s.v[4].name, "_etext");
    assert_string_equal(s.v[5].name, "vring_del_virtqueue [virtio_ring]");
    symbols_free(&s);
}

static void finds_the_enclosing_symbol(void **state)
{
    struct symbols s;

    (void)state;
    assert_int_equal(symbols_parse_map(&s, map_text, strlen(map_text)), 0);
    assert_null(symbols_find(&s, 0xffffffff80ffffffULL));
    assert_string_equal(symbols_find(&s, 0xffffffff81000000ULL)->name, "_text");
    assert_string_equal(symbols_find(&s, 0xffffffff810000ffULL)->name, "_text");
    assert_string_equal(symbols_find(&s, 0xffffffff81000100ULL)->name, "helper");
    assert_string_equal(symbols_find(&s, 0xffffffff81000234ULL)->name, "weak_fn");
    assert_string_equal(symbols_find(&s, 0xffffffff81000fffULL)->name, "last_without_newline");
    /* Far past a symbol is no longer its code. */
    assert_string_equal(symbols_find(&s, 0xffffffff81001000ULL + (256 << 10) - 1)->name, "_etext");
    assert_null(symbols_find(&s, 0xffffffff81001000ULL + (256 << 10)));
    assert_string_equal(symbols_find(&s, 0xffffffffc0001010ULL)->name,
                        "vring_del_virtqueue [virtio_ring]");
    assert_null(symbols_find(&s, 0xffffffffffffffffULL));
    symbols_free(&s);
}

static void empty_or_foreign_text_has_no_symbols(void **state)
{
    static const char junk[] = "hello\nworld 1 2 3\n\n0 D data_only\n";
    struct symbols s;

    (void)state;
    assert_int_equal(symbols_parse_map(&s, junk, strlen(junk)), -ENOENT);
    assert_int_equal(symbols_parse_map(&s, "", 0), -ENOENT);
    assert_null(symbols_find(&s, 0));
    symbols_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_text_symbols_only),
        cmocka_unit_test(finds_the_enclosing_symbol),
        cmocka_unit_test(empty_or_foreign_text_has_no_symbols),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
