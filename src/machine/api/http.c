#include "machine/api/http.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int bad(struct http_request *req, int status, const char *why)
{
    req->status = status;
    req->error = why;
    return -EBADMSG;
}

/* RFC 9110 §5.6.2: tchar. */
static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The line at buf[*pos, end), CRLF-terminated; returns its length without
 * CRLF and moves *pos past it, or -1 if there is no CRLF before end or a bare
 * CR or LF (RFC 9112 §2.2: a recipient may reject them). */
static long line(const char *buf, size_t end, size_t *pos)
{
    size_t start = *pos;

    for (size_t i = start; i < end; i++) {
        if (buf[i] == '\r') {
            if (i + 1 >= end || buf[i + 1] != '\n')
                return -1;
            *pos = i + 2;
            return (long)(i - start);
        }
        if (buf[i] == '\n')
            return -1;
    }
    return -1;
}

static int request_line(const char *s, size_t n, struct http_request *req, int *minor)
{
    const char *sp1 = memchr(s, ' ', n), *sp2, *target, *q;
    size_t mlen, tlen, plen;

    if (!sp1)
        return bad(req, 400, "malformed request line");
    mlen = (size_t)(sp1 - s);
    sp2 = memchr(sp1 + 1, ' ', n - mlen - 1);
    if (!sp2)
        return bad(req, 400, "malformed request line");
    if (!mlen || mlen >= HTTP_MAX_METHOD)
        return bad(req, 400, "unknown request method");
    for (size_t i = 0; i < mlen; i++)
        if (!is_tchar(s[i]))
            return bad(req, 400, "malformed request method");
    memcpy(req->method, s, mlen);
    req->method[mlen] = '\0';
    target = sp1 + 1;
    tlen = (size_t)(sp2 - target);
    if (!tlen || target[0] != '/')
        return bad(req, 400, "the request target must be a path starting with /");
    q = memchr(target, '?', tlen);
    plen = q ? (size_t)(q - target) : tlen;
    if (plen >= HTTP_MAX_PATH)
        return bad(req, 414, "the request path is too long");
    for (size_t i = 0; i < tlen; i++)
        if ((unsigned char)target[i] <= ' ' || (unsigned char)target[i] >= 0x7f)
            return bad(req, 400, "a control character or space in the request target");
    memcpy(req->path, target, plen);
    req->path[plen] = '\0';
    n -= (size_t)(sp2 + 1 - s);
    s = sp2 + 1;
    if (n != 8 || memcmp(s, "HTTP/", 5) || s[5] < '0' || s[5] > '9' || s[6] != '.' || s[7] < '0' ||
        s[7] > '9')
        return bad(req, 400, "malformed HTTP version");
    if (s[5] != '1' || (s[7] != '0' && s[7] != '1'))
        return bad(req, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
    *minor = s[7] - '0';
    return 0;
}

/* Whether the comma-separated list value[0, n) holds token tok. */
static bool has_token(const char *value, size_t n, const char *tok)
{
    size_t tl = strlen(tok), i = 0;

    while (i < n) {
        size_t j = i;

        while (j < n && value[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && (value[a] == ' ' || value[a] == '\t'))
            a++;
        while (b > a && (value[b - 1] == ' ' || value[b - 1] == '\t'))
            b--;
        if (b - a == tl && !strncasecmp(value + a, tok, tl))
            return true;
        i = j + 1;
    }
    return false;
}

int http_parse(const char *buf, size_t len, struct http_request *req)
{
    size_t pos = 0, head_end, scan = len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD;
    bool have_length = false, close = false, keep = false;
    uint64_t length = 0;
    const char *end;
    long n;
    int minor, ret;

    *req = (struct http_request){0};
    /* RFC 9112 §2.2: empty lines before the request line are ignored. */
    while (pos + 1 < len && buf[pos] == '\r' && buf[pos + 1] == '\n')
        pos += 2;
    end = NULL;
    for (size_t i = pos; i + 3 < scan; i++)
        if (buf[i] == '\r' && !memcmp(buf + i, "\r\n\r\n", 4)) {
            end = buf + i;
            break;
        }
    if (!end)
        return len >= HTTP_MAX_HEAD ? bad(req, 431, "request head over 8 KiB") : -EAGAIN;
    head_end = (size_t)(end - buf) + 4;

    n = line(buf, head_end, &pos);
    if (n < 0)
        return bad(req, 400, "a bare CR or LF in the request line");
    if ((ret = request_line(buf + pos - (size_t)n - 2, (size_t)n, req, &minor)))
        return ret;
    while (pos < head_end - 2) {
        const char *h;
        const char *colon, *v, *ve;

        n = line(buf, head_end, &pos);
        if (n < 0)
            return bad(req, 400, "a bare CR or LF in a header");
        h = buf + pos - (size_t)n - 2;
        if (h[0] == ' ' || h[0] == '\t')
            return bad(req, 400, "folded header lines are not accepted");
        colon = memchr(h, ':', (size_t)n);
        if (!colon || colon == h)
            return bad(req, 400, "a header line without a name");
        for (const char *c = h; c < colon; c++)
            if (!is_tchar(*c))
                return bad(req, 400, "a malformed header name");
        v = colon + 1;
        ve = h + n;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        for (const char *c = v; c < ve; c++)
            if ((unsigned char)*c < 0x20 && *c != '\t')
                return bad(req, 400, "a control character in a header value");
        size_t nl = (size_t)(colon - h), vl = (size_t)(ve - v);

        if (nl == 14 && !strncasecmp(h, "Content-Length", 14)) {
            uint64_t l = 0;

            if (!vl)
                return bad(req, 400, "an empty Content-Length");
            for (size_t i = 0; i < vl; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return bad(req, 400, "Content-Length is not a number");
                if (__builtin_mul_overflow(l, 10, &l) ||
                    __builtin_add_overflow(l, (uint64_t)(v[i] - '0'), &l))
                    l = UINT64_MAX;
            }
            /* RFC 9112 §6.3: differing lengths make the message invalid. */
            if (have_length && l != length)
                return bad(req, 400, "two different Content-Length headers");
            have_length = true;
            length = l;
        } else if (nl == 17 && !strncasecmp(h, "Transfer-Encoding", 17)) {
            return bad(req, 501,
                       "Transfer-Encoding (chunked bodies) is not supported; send Content-Length");
        } else if (nl == 10 && !strncasecmp(h, "Connection", 10)) {
            close |= has_token(v, vl, "close");
            keep |= has_token(v, vl, "keep-alive");
        } else if (nl == 6 && !strncasecmp(h, "Expect", 6)) {
            if (!has_token(v, vl, "100-continue"))
                return bad(req, 417, "the only expectation supported is 100-continue");
            req->expect_continue = minor == 1;
        }
    }
    req->keep_alive = minor == 1 ? !close : keep && !close;
    req->head_done = true;
    if (length > HTTP_MAX_BODY)
        return bad(req, 413, "request body over 64 KiB");
    req->body = buf + head_end;
    req->body_len = (size_t)length;
    if (len - head_end < length)
        return -EAGAIN;
    req->size = head_end + (size_t)length;
    return 0;
}

const char *http_reason(int status)
{
    static const struct {
        int status;
        const char *reason;
    } reasons[] = {
        {100, "Continue"},
        {200, "OK"},
        {204, "No Content"},
        {400, "Bad Request"},
        {413, "Payload Too Large"},
        {414, "URI Too Long"},
        {417, "Expectation Failed"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {505, "HTTP Version Not Supported"},
    };

    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return "";
}

int http_response(char *out, size_t cap, int status, const char *body, size_t body_len,
                  bool keep_alive)
{
    int n;

    if (body)
        n = snprintf(out, cap,
                     "HTTP/1.1 %d %s\r\nServer: vx86 API\r\nConnection: %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     status, http_reason(status), keep_alive ? "keep-alive" : "close", body_len);
    else
        n = snprintf(out, cap, "HTTP/1.1 %d %s\r\nServer: vx86 API\r\nConnection: %s\r\n\r\n",
                     status, http_reason(status), keep_alive ? "keep-alive" : "close");
    if (n < 0 || (size_t)n >= cap || cap - (size_t)n < body_len)
        return -ENOSPC;
    if (body_len)
        memcpy(out + n, body, body_len);
    return n + (int)body_len;
}
