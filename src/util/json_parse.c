#include "util/json_parse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    const char *s;
    size_t len, pos;
    struct json_doc *doc;
    char *err;
    size_t errlen;
};

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parser *p, const char *fmt, ...)
{
    char what[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "%s at byte %zu", what, p->pos);
    return -EINVAL;
}

static void skip_ws(struct parser *p)
{
    /* RFC 8259 §2: space, tab, LF, CR only. */
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static int new_node(struct parser *p, enum json_type type)
{
    struct json_doc *d = p->doc;

    if (d->nr == JSON_MAX_NODES)
        return fail(p, "more than %d values", JSON_MAX_NODES);
    if (d->nr == d->cap) {
        int cap = d->cap ? d->cap * 2 : 16;
        struct json_node *n = realloc(d->nodes, (size_t)cap * sizeof(*n));

        if (!n)
            return -ENOMEM;
        d->nodes = n;
        d->cap = cap;
    }
    d->nodes[d->nr] = (struct json_node){.type = type, .first = -1, .next = -1};
    return d->nr++;
}

static void put_utf8(char *out, size_t *o, uint32_t c)
{
    if (c < 0x80) {
        out[(*o)++] = (char)c;
    } else if (c < 0x800) {
        out[(*o)++] = (char)(0xc0 | c >> 6);
        out[(*o)++] = (char)(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
        out[(*o)++] = (char)(0xe0 | c >> 12);
        out[(*o)++] = (char)(0x80 | (c >> 6 & 0x3f));
        out[(*o)++] = (char)(0x80 | (c & 0x3f));
    } else {
        out[(*o)++] = (char)(0xf0 | c >> 18);
        out[(*o)++] = (char)(0x80 | (c >> 12 & 0x3f));
        out[(*o)++] = (char)(0x80 | (c >> 6 & 0x3f));
        out[(*o)++] = (char)(0x80 | (c & 0x3f));
    }
}

/* Length of the valid UTF-8 sequence at s (RFC 3629 §4: no overlong forms,
 * no surrogates, at most U+10FFFF), or 0. */
static size_t utf8_valid(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t c;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, c = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3, c = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, c = s[0] & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
        (len == 4 && (c < 0x10000 || c > 0x10ffff)))
        return 0;
    return len;
}

static int hex4(struct parser *p, uint32_t *out)
{
    uint32_t v = 0;

    if (p->len - p->pos < 4)
        return fail(p, "a \\u escape cut short");
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos++];

        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return fail(p, "a \\u escape with a non-hex digit");
    }
    *out = v;
    return 0;
}

/* RFC 8259 §7: the two-character escapes and what they stand for. */
static const char esc_from[] = "\"\\/bfnrt", esc_to[] = "\"\\/\b\f\n\r\t";

/* The string at p->pos (its opening quote): decoded into doc->strings.
 * A decoded string is never longer than its source with the quotes, so the
 * buffer (len + 1 bytes) cannot overflow. */
static int string(struct parser *p, const char **out, size_t *outlen)
{
    char *buf = p->doc->strings + p->doc->used;
    const char *e;
    size_t o = 0;
    uint32_t c, lo;
    int ret;

    p->pos++;
    for (;;) {
        if (p->pos >= p->len)
            return fail(p, "a string without its closing quote");
        unsigned char ch = (unsigned char)p->s[p->pos];

        if (ch == '"') {
            p->pos++;
            break;
        }
        if (ch < 0x20)
            return fail(p, "a control character in a string");
        if (ch != '\\') {
            size_t n = utf8_valid((const unsigned char *)p->s + p->pos, p->len - p->pos);

            if (!n)
                return fail(p, "a string that is not UTF-8");
            memcpy(buf + o, p->s + p->pos, n);
            o += n;
            p->pos += n;
            continue;
        }
        if (++p->pos >= p->len)
            return fail(p, "a string without its closing quote");
        e = p->s[p->pos] ? strchr(esc_from, p->s[p->pos]) : NULL;
        if (e) {
            buf[o++] = esc_to[e - esc_from];
            p->pos++;
            continue;
        }
        if (p->s[p->pos++] != 'u')
            return fail(p, "an unknown escape");
        if ((ret = hex4(p, &c)))
            return ret;
        /* RFC 8259 §7: a character outside the BMP is a surrogate pair. */
        if (c >= 0xdc00 && c <= 0xdfff)
            return fail(p, "a lone low surrogate \\u%04x", c);
        if (c >= 0xd800 && c <= 0xdbff) {
            if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                return fail(p, "a high surrogate \\u%04x without its low half", c);
            p->pos += 2;
            if ((ret = hex4(p, &lo)))
                return ret;
            if (lo < 0xdc00 || lo > 0xdfff)
                return fail(p, "a high surrogate followed by \\u%04x", lo);
            c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        }
        if (!c)
            return fail(p, "\\u0000 in a string");
        put_utf8(buf, &o, c);
    }
    buf[o] = '\0';
    p->doc->used += o + 1;
    *out = buf;
    *outlen = o;
    return 0;
}

/* RFC 8259 §6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int number(struct parser *p, struct json_node *n)
{
    bool neg = false, integer = true, overflow = false;
    uint64_t mag = 0;

    if (p->s[p->pos] == '-') {
        neg = true;
        p->pos++;
    }
    if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
        return fail(p, "a number without digits");
    if (p->s[p->pos] == '0' && p->pos + 1 < p->len && p->s[p->pos + 1] >= '0' &&
        p->s[p->pos + 1] <= '9')
        return fail(p, "a number with a leading zero");
    for (; p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9'; p->pos++)
        if (__builtin_mul_overflow(mag, 10, &mag) ||
            __builtin_add_overflow(mag, (uint64_t)(p->s[p->pos] - '0'), &mag))
            overflow = true;
    if (p->pos < p->len && p->s[p->pos] == '.') {
        integer = false;
        p->pos++;
        if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
            return fail(p, "a number without digits after its point");
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        integer = false;
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
            p->pos++;
        if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
            return fail(p, "a number without digits in its exponent");
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
    }
    if (integer && !overflow && mag <= (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)) {
        n->integer = true;
        n->i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    }
    return 0;
}

static int literal(struct parser *p, const char *word)
{
    size_t n = strlen(word);

    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n))
        return fail(p, "an unexpected character");
    p->pos += n;
    return 0;
}

static int value(struct parser *p, int depth);

/* The array or object at p->pos; node idx is already made. */
static int container(struct parser *p, int idx, int depth)
{
    bool obj = p->doc->nodes[idx].type == JSON_OBJECT;
    char close = obj ? '}' : ']';
    int prev = -1, child, ret;
    const char *key = NULL;
    size_t keylen;

    if (depth >= JSON_MAX_DEPTH)
        return fail(p, "more than %d nested arrays and objects", JSON_MAX_DEPTH);
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return 0;
    }
    for (;;) {
        skip_ws(p);
        if (obj) {
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return fail(p, "an object member without a quoted name");
            if ((ret = string(p, &key, &keylen)))
                return ret;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return fail(p, "a member name without its colon");
            p->pos++;
        }
        child = value(p, depth + 1);
        if (child < 0)
            return child;
        /* The node array may have moved: index it afresh. */
        p->doc->nodes[child].key = key;
        if (prev < 0)
            p->doc->nodes[idx].first = child;
        else
            p->doc->nodes[prev].next = child;
        prev = child;
        p->doc->nodes[idx].count++;
        skip_ws(p);
        if (p->pos >= p->len)
            return fail(p, "an unterminated %s", obj ? "object" : "array");
        if (p->s[p->pos] == close) {
            p->pos++;
            return 0;
        }
        if (p->s[p->pos] != ',')
            return fail(p, "a missing comma");
        p->pos++;
    }
}

/* Parses one value; returns its node index or -errno. */
static int value(struct parser *p, int depth)
{
    int idx, ret = 0;

    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, "the text ends where a value should be");
    switch (p->s[p->pos]) {
    case '{':
    case '[':
        idx = new_node(p, p->s[p->pos] == '{' ? JSON_OBJECT : JSON_ARRAY);
        if (idx >= 0)
            ret = container(p, idx, depth);
        break;
    case '"':
        idx = new_node(p, JSON_STRING);
        if (idx >= 0)
            ret = string(p, &p->doc->nodes[idx].str, &p->doc->nodes[idx].len);
        break;
    case 't':
    case 'f':
        idx = new_node(p, JSON_BOOL);
        if (idx >= 0) {
            p->doc->nodes[idx].boolean = p->s[p->pos] == 't';
            ret = literal(p, p->s[p->pos] == 't' ? "true" : "false");
        }
        break;
    case 'n':
        idx = new_node(p, JSON_NULL);
        if (idx >= 0)
            ret = literal(p, "null");
        break;
    default:
        if (p->s[p->pos] != '-' && (p->s[p->pos] < '0' || p->s[p->pos] > '9'))
            return fail(p, "an unexpected character");
        idx = new_node(p, JSON_NUMBER);
        if (idx >= 0)
            ret = number(p, &p->doc->nodes[idx]);
        break;
    }
    return ret ? ret : idx;
}

int json_parse(const char *text, size_t len, struct json_doc *doc, char *err, size_t errlen)
{
    struct parser p = {.s = text, .len = len, .doc = doc, .err = err, .errlen = errlen};
    int ret;

    *doc = (struct json_doc){0};
    doc->strings = malloc(len + 1);
    if (!doc->strings)
        return -ENOMEM;
    ret = value(&p, 0);
    if (ret >= 0) {
        skip_ws(&p);
        ret = p.pos < len ? fail(&p, "text after the value") : 0;
    }
    if (ret == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    if (ret < 0)
        json_doc_free(doc);
    return ret < 0 ? ret : 0;
}

void json_doc_free(struct json_doc *doc)
{
    free(doc->nodes);
    free(doc->strings);
    *doc = (struct json_doc){0};
}

int json_member(const struct json_doc *doc, int obj, const char *key)
{
    for (int c = doc->nodes[obj].first; c >= 0; c = doc->nodes[c].next)
        if (!strcmp(doc->nodes[c].key, key))
            return c;
    return -1;
}

const char *json_type_name(enum json_type t)
{
    static const char *const names[] = {
        [JSON_NULL] = "null",       [JSON_BOOL] = "a boolean", [JSON_NUMBER] = "a number",
        [JSON_STRING] = "a string", [JSON_ARRAY] = "an array", [JSON_OBJECT] = "an object",
    };
    return names[t];
}
