/* The API's HTTP/1.1 parser and response writer (machine/api/http.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "machine/api/http.h"

static void parses_requests_back_to_back(void **state)
{
    static const char two[] = "\r\nPUT /drives/root?x=1 HTTP/1.1\r\nHost: localhost\r\n"
                              "content-length:  2 \r\nAccept: */*\r\n\r\n{}"
                              "GET / HTTP/1.0\r\nConnection: Keep-Alive, foo\r\n\r\n";
    struct http_request req;
    size_t first;

    (void)state;
    assert_int_equal(http_parse(two, strlen(two), &req), 0);
    assert_string_equal(req.method, "PUT");
    assert_string_equal(req.path, "/drives/root");
    assert_int_equal(req.body_len, 2);
    assert_memory_equal(req.body, "{}", 2);
    assert_true(req.keep_alive);
    first = req.size;
    assert_int_equal(http_parse(two + first, strlen(two) - first, &req), 0);
    assert_string_equal(req.method, "GET");
    assert_int_equal(req.body_len, 0);
    assert_true(req.keep_alive);
    assert_int_equal(first + req.size, strlen(two));
}

static void waits_for_the_whole_request(void **state)
{
    static const char text[] = "PUT /actions HTTP/1.1\r\nContent-Length: 4\r\n"
                               "Expect: 100-continue\r\nConnection: close\r\n\r\nabcd";
    struct http_request req;
    size_t head = strlen(text) - 4;

    (void)state;
    /* Every prefix is incomplete; once the head is in, its fields are set. */
    for (size_t n = 0; n < strlen(text); n++) {
        assert_int_equal(http_parse(text, n, &req), -EAGAIN);
        assert_int_equal(req.head_done, n >= head);
    }
    assert_true(req.expect_continue);
    assert_false(req.keep_alive);
    assert_int_equal(http_parse(text, strlen(text), &req), 0);
}

/* Requests refused, with the status to answer. */
static const struct {
    const char *text;
    int status;
} bad[] = {
    {"GET /\r\n\r\n", 400},
    {"GET / HTTP/1.1 x\r\n\r\n", 400},
    {"GET x HTTP/1.1\r\n\r\n", 400},
    {"G(T / HTTP/1.1\r\n\r\n", 400},
    {"TOOLONGMETHOD / HTTP/1.1\r\n\r\n", 400},
    {"GET /a b HTTP/1.1\r\n\r\n", 400},
    {"GET / HTTP/2.0\r\n\r\n", 505},
    {"GET / HTTP/1.2\r\n\r\n", 505},
    {"GET / HTTQ/1.1\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n: empty\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nA: b\nC: d\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400},
    {"PUT / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400},
    {"PUT / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400},
    {"PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
    {"PUT / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n", 413},
    {"PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413},
    {"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
    {"PUT / HTTP/1.1\r\nExpect: magic\r\n\r\n", 417},
};

static void refuses_bad_requests(void **state)
{
    struct http_request req;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (http_parse(bad[i].text, strlen(bad[i].text), &req) != -EBADMSG ||
            req.status != bad[i].status || !req.error)
            fail_msg("%s: status %d, expected %d", bad[i].text, req.status, bad[i].status);
    }
}

static void bounds_the_head(void **state)
{
    size_t n = HTTP_MAX_HEAD + 16;
    char *big = malloc(n);
    struct http_request req;

    (void)state;
    assert_non_null(big);
    memset(big, 'a', n);
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    /* Less than the limit without its end: more may come. */
    assert_int_equal(http_parse(big, HTTP_MAX_HEAD - 1, &req), -EAGAIN);
    assert_int_equal(http_parse(big, n, &req), -EBADMSG);
    assert_int_equal(req.status, 431);
    free(big);
}

static void writes_responses(void **state)
{
    char out[256];
    int n;

    (void)state;
    n = http_response(out, sizeof(out), 204, NULL, 0, true);
    assert_true(n > 0);
    out[n] = '\0';
    assert_string_equal(out, "HTTP/1.1 204 No Content\r\nServer: vx86 API\r\n"
                             "Connection: keep-alive\r\n\r\n");
    n = http_response(out, sizeof(out), 400, "{}", 2, false);
    assert_true(n > 0);
    out[n] = '\0';
    assert_string_equal(out, "HTTP/1.1 400 Bad Request\r\nServer: vx86 API\r\nConnection: close\r\n"
                             "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    assert_int_equal(http_response(out, 40, 200, "{}", 2, true), -ENOSPC);
    assert_int_equal(http_response(out, (size_t)n - 1, 400, "{}", 2, false), -ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_requests_back_to_back),
        cmocka_unit_test(waits_for_the_whole_request),
        cmocka_unit_test(refuses_bad_requests),
        cmocka_unit_test(bounds_the_head),
        cmocka_unit_test(writes_responses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
