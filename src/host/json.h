/*
 * A small streaming JSON writer for `vx86 host --json`: two-space indented,
 * commas placed by the writer. Keys are given inside objects and NULL inside
 * arrays. Strings are escaped per RFC 8259 §7; bytes that are not valid UTF-8
 * become U+FFFD, so the output is always valid JSON.
 */
#ifndef VX86_HOST_JSON_H
#define VX86_HOST_JSON_H

#include <stdbool.h>
#include <stdio.h>

struct json {
    FILE *f;
    int depth;  /* containers open */
    bool items; /* the innermost container has an item already */
};

/* Starts writing one value on f. */
void json_init(struct json *j, FILE *f);

/* Open '{' or '[' and close '}' or ']' a container; json_end after the outermost
 * one ends the line. */
void json_begin(struct json *j, const char *key, char open);
void json_end(struct json *j, char close);

/* A string, or null when s is NULL. */
void json_str(struct json *j, const char *key, const char *s);
void json_int(struct json *j, const char *key, long v);
void json_bool(struct json *j, const char *key, bool v);
/* true for v > 0, false for v == 0, null for v < 0 (an unknown answer). */
void json_tri(struct json *j, const char *key, int v);

#endif
