/* The JSON reader (util/json_parse.h): RFC 8259's grammar, its escapes and
 * the reader's bounds, as table vectors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "util/json_parse.h"

/* Texts that must be refused, with a word of the reason. */
static const struct {
    const char *text;
    const char *why;
} bad[] = {
    {"", "ends where a value"},
    {"{", "quoted name"},
    {"{\"a\" 1}", "colon"},
    {"{\"a\": 1,}", "quoted name"},
    {"[1, 2", "unterminated array"},
    {"[1 2]", "missing comma"},
    {"01", "leading zero"},
    {"-", "without digits"},
    {"1.", "after its point"},
    {"1e", "exponent"},
    {"tru", "unexpected character"},
    {"nul", "unexpected character"},
    {"'a'", "unexpected character"},
    {"\"abc", "closing quote"},
    {"\"a\tb\"", "control character"},
    {"\"\\x\"", "unknown escape"},
    {"\"\\u12zz\"", "non-hex digit"},
    {"\"\\u12\"", "cut short"},
    {"\"\\u0000\"", "\\u0000"},
    {"\"\\udc00\"", "lone low surrogate"},
    {"\"\\ud800\"", "without its low half"},
    {"\"\\ud800\\u0041\"", "followed by"},
    {"\"\xc0\xaf\"", "not UTF-8"},         /* overlong '/' */
    {"\"\xed\xa0\x80\"", "not UTF-8"},     /* an encoded surrogate */
    {"\"\xf4\x90\x80\x80\"", "not UTF-8"}, /* above U+10FFFF */
    {"\"\xe2\x82\"", "not UTF-8"},         /* cut short */
    {"1 2", "text after"},
    {"{} x", "text after"},
};

static void refuses_bad_text(void **state)
{
    struct json_doc doc;
    char err[160];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(json_parse(bad[i].text, strlen(bad[i].text), &doc, err, sizeof(err)),
                         -EINVAL);
        if (!strstr(err, bad[i].why))
            fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].text, err, bad[i].why);
        assert_null(doc.nodes);
    }
}

static void reads_values(void **state)
{
    static const char text[] =
        " {\"n\": -12, \"big\": 9223372036854775808, \"f\": 1.5e3,"
        " \"s\": \"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\xc3\xa9\","
        " \"l\": [true, false, null, [], {}], \"max\": -9223372036854775808} ";
    struct json_doc doc;
    const struct json_node *n;
    char err[160];
    int i;

    (void)state;
    assert_int_equal(json_parse(text, strlen(text), &doc, err, sizeof(err)), 0);
    n = doc.nodes;
    assert_int_equal(n[0].type, JSON_OBJECT);
    assert_int_equal(n[0].count, 6);
    i = json_member(&doc, 0, "n");
    assert_true(n[i].integer);
    assert_int_equal(n[i].i, -12);
    /* Past INT64_MAX and with a fraction: numbers, not integers. */
    i = json_member(&doc, 0, "big");
    assert_int_equal(n[i].type, JSON_NUMBER);
    assert_false(n[i].integer);
    assert_false(n[json_member(&doc, 0, "f")].integer);
    i = json_member(&doc, 0, "max");
    assert_true(n[i].integer);
    assert_true(n[i].i == INT64_MIN);
    i = json_member(&doc, 0, "s");
    assert_string_equal(n[i].str, "a\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80\xc3\xa9");
    assert_int_equal(n[i].len, strlen(n[i].str));
    i = json_member(&doc, 0, "l");
    assert_int_equal(n[i].type, JSON_ARRAY);
    assert_int_equal(n[i].count, 5);
    i = n[i].first;
    assert_true(n[i].type == JSON_BOOL && n[i].boolean);
    i = n[i].next;
    assert_true(n[i].type == JSON_BOOL && !n[i].boolean);
    i = n[i].next;
    assert_int_equal(n[i].type, JSON_NULL);
    i = n[i].next;
    assert_true(n[i].type == JSON_ARRAY && n[i].count == 0 && n[i].first == -1);
    i = n[i].next;
    assert_true(n[i].type == JSON_OBJECT && n[i].next == -1);
    assert_int_equal(json_member(&doc, 0, "missing"), -1);
    json_doc_free(&doc);
}

static void bounds_depth_and_size(void **state)
{
    char deep[2 * JSON_MAX_DEPTH + 3], err[160];
    static char many[2 * JSON_MAX_NODES + 8];
    struct json_doc doc;
    size_t n = 0;

    (void)state;
    /* JSON_MAX_DEPTH nested arrays are read; one more is not. */
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        deep[n++] = '[';
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        deep[n++] = ']';
    assert_int_equal(json_parse(deep, n, &doc, err, sizeof(err)), 0);
    json_doc_free(&doc);
    memmove(deep + 1, deep, n);
    deep[0] = '[';
    deep[++n] = ']';
    n++;
    assert_int_equal(json_parse(deep, n, &doc, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "nested"));
    /* An array of JSON_MAX_NODES values is one value too many. */
    n = 0;
    many[n++] = '[';
    for (int i = 0; i < JSON_MAX_NODES; i++) {
        many[n++] = '0';
        many[n++] = ',';
    }
    many[n - 1] = ']';
    assert_int_equal(json_parse(many, n, &doc, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "more than"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refuses_bad_text),
        cmocka_unit_test(reads_values),
        cmocka_unit_test(bounds_depth_and_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
