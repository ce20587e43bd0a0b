#include "host/json.h"

#include <stdint.h>

void json_init(struct json *j, FILE *f)
{
    *j = (struct json){.f = f};
}

/* Length of the valid UTF-8 sequence at s (RFC 3629 §4), or 0 if invalid. */
static int utf8_len(const unsigned char *s)
{
    int n;
    uint32_t cp, min;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0)
        n = 2, cp = s[0] & 0x1f, min = 0x80;
    else if ((s[0] & 0xf0) == 0xe0)
        n = 3, cp = s[0] & 0x0f, min = 0x800;
    else if ((s[0] & 0xf8) == 0xf0)
        n = 4, cp = s[0] & 0x07, min = 0x10000;
    else
        return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

static void put_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    fputc('"', f);
    while (*p) {
        int n = utf8_len(p);

        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else if (n == 0)
            fputs("\\ufffd", f);
        else
            fwrite(p, 1, (size_t)n, f);
        p += n ? n : 1;
    }
    fputc('"', f);
}

/* Comma, new line and indent before an item, then its key if any. */
static void item(struct json *j, const char *key)
{
    if (j->depth > 0) {
        fprintf(j->f, "%s\n%*s", j->items ? "," : "", 2 * j->depth, "");
        j->items = true;
    }
    if (key) {
        put_string(j->f, key);
        fputs(": ", j->f);
    }
}

void json_begin(struct json *j, const char *key, char open)
{
    item(j, key);
    fputc(open, j->f);
    j->depth++;
    j->items = false;
}

void json_end(struct json *j, char close)
{
    if (j->depth > 0)
        j->depth--;
    if (j->items)
        fprintf(j->f, "\n%*s", 2 * j->depth, "");
    fputc(close, j->f);
    j->items = true;
    if (j->depth == 0)
        fputc('\n', j->f);
}

void json_str(struct json *j, const char *key, const char *s)
{
    item(j, key);
    if (s)
        put_string(j->f, s);
    else
        fputs("null", j->f);
}

void json_int(struct json *j, const char *key, long v)
{
    item(j, key);
    fprintf(j->f, "%ld", v);
}

void json_bool(struct json *j, const char *key, bool v)
{
    item(j, key);
    fputs(v ? "true" : "false", j->f);
}

void json_tri(struct json *j, const char *key, int v)
{
    item(j, key);
    fputs(v < 0 ? "null" : v ? "true" : "false", j->f);
}
