/*
 * HTTP/1.1 (RFC 9112) for the API socket: a parser of one request at the
 * start of a connection's buffer and a response writer. Pure functions over
 * buffers, no I/O, so that a fuzz target drives them.
 *
 * What is accepted: a request line "METHOD /path[?query] HTTP/1.x" and header
 * lines ending in CRLF, at most HTTP_MAX_HEAD bytes together (else 431); a
 * body of Content-Length bytes, at most HTTP_MAX_BODY (else 413).
 * Transfer-Encoding (chunked) is not implemented (501); HTTP versions other
 * than 1.0 and 1.1 get 505; anything malformed gets 400. HTTP/1.1 keeps
 * the connection open unless "Connection: close"; HTTP/1.0 closes it unless
 * "Connection: keep-alive".
 */
#ifndef VX86_MACHINE_API_HTTP_H
#define VX86_MACHINE_API_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_HEAD   8192
#define HTTP_MAX_BODY   65536
#define HTTP_MAX_METHOD 8
#define HTTP_MAX_PATH   1024

struct http_request {
    char method[HTTP_MAX_METHOD]; /* "GET", "PUT", ... (upper case as sent) */
    char path[HTTP_MAX_PATH];     /* the target's path, without the query */
    const char *body;             /* into the buffer; body_len bytes */
    size_t body_len;
    size_t size; /* head and body: where the next request starts */
    bool keep_alive;
    bool expect_continue; /* "Expect: 100-continue": the client waits for 100 */
    bool head_done;       /* the head is parsed (also with -EAGAIN for the body) */
    int status;           /* on error: the status to answer */
    const char *error;    /* on error: why, one line */
};

/*
 * Parses the request at buf[0, len). Returns 0 when it is complete (req
 * filled); -EAGAIN when more bytes are needed (req->head_done says whether
 * the head is complete; the fields of the head are then filled); -EBADMSG
 * with req->status and req->error when the request is bad - the connection
 * must then be closed after the answer, as where it ends is unknown.
 */
int http_parse(const char *buf, size_t len, struct http_request *req);

/*
 * Writes a response into out (cap bytes): status line, Server, Connection
 * (keep_alive or close), and for a body Content-Type: application/json and
 * Content-Length. Returns its length, or -ENOSPC if it does not fit.
 */
int http_response(char *out, size_t cap, int status, const char *body, size_t body_len,
                  bool keep_alive);

/* The reason phrase of a status ("Bad Request"); "" for unknown ones. */
const char *http_reason(int status);

#endif
