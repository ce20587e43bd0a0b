/*
 * A small JSON reader (RFC 8259) for hostile input: API request bodies and
 * config files. The text is parsed at once into a tree of nodes held in one
 * document; strings are decoded (escapes, surrogate pairs) into NUL-terminated
 * copies. Bounded: at most JSON_MAX_DEPTH nested containers and
 * JSON_MAX_NODES values; strings must be valid UTF-8 without control
 * characters, and "\u0000" is refused (a path must not end early). The
 * writer is host/json.h.
 */
#ifndef VX86_UTIL_JSON_PARSE_H
#define VX86_UTIL_JSON_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 32
#define JSON_MAX_NODES 4096

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

/* One value. Children of an array or object are a list linked by next
 * (node indexes, -1 ends it); an object's children carry their key. */
struct json_node {
    enum json_type type;
    bool boolean;
    bool integer;    /* a number without fraction or exponent that fits int64 */
    int64_t i;       /* its value when integer */
    const char *str; /* JSON_STRING: the decoded text */
    size_t len;      /* its length in bytes */
    const char *key; /* member of an object: its decoded key; else NULL */
    int first, next; /* first child, next sibling; -1 when none */
    int count;       /* children */
};

struct json_doc {
    struct json_node *nodes; /* nodes[0] is the root */
    int nr, cap;
    char *strings; /* decoded strings, each NUL-terminated */
    size_t used;
};

/*
 * Parses text[0, len) (one value, white space around it). Returns 0 with doc
 * filled (free it with json_doc_free), or -EINVAL with err holding a
 * one-line reason and its byte offset, or -ENOMEM; doc is then empty.
 */
int json_parse(const char *text, size_t len, struct json_doc *doc, char *err, size_t errlen);

void json_doc_free(struct json_doc *doc);

/* The member of object node obj named key, or -1. */
int json_member(const struct json_doc *doc, int obj, const char *key);

/* "object", "string", ... for messages. */
const char *json_type_name(enum json_type t);

#endif
