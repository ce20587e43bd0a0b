#include "util/symbols.h"

#include <ctype.h>
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

/* The most a symbol covers: a map lists code only, so the gap after the
 * last function of a region (the kernel's text, a module) is not code. */
#define SYMBOL_SPAN (256ULL << 10)

static int by_addr(const void *a, const void *b)
{
    const struct symbol *x = a, *y = b;

    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    /* The earlier entry first, so that ties keep the first name read. */
    return x->name < y->name ? -1 : x->name > y->name;
}

/* Sorts s->v and drops the later names of one address; empties s when it
 * holds none. */
static int finish(struct symbols *s)
{
    size_t out = 0;

    if (!s->n) {
        symbols_free(s);
        return -ENOENT;
    }
    qsort(s->v, s->n, sizeof(*s->v), by_addr);
    for (size_t i = 0; i < s->n; i++)
        if (!out || s->v[out - 1].addr != s->v[i].addr)
            s->v[out++] = s->v[i];
    s->n = out;
    return 0;
}

static bool is_hex(char c)
{
    return isxdigit((unsigned char)c) != 0;
}

int symbols_parse_map(struct symbols *s, const char *text, size_t len)
{
    size_t cap = 0, lines = 0;
    char *p, *end;

    *s = (struct symbols){0};
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    cap = lines + 1;
    s->strings = malloc(len + 1);
    s->v = calloc(cap, sizeof(*s->v));
    if (!s->strings || !s->v) {
        symbols_free(s);
        return -ENOMEM;
    }
    memcpy(s->strings, text, len);
    s->strings[len] = '\0';
    for (p = s->strings; p < s->strings + len; p = end + 1) {
        char *name, *q = p, type;
        uint64_t addr = 0;
        int digits = 0;

        end = memchr(p, '\n', (size_t)(s->strings + len - p));
        if (!end)
            end = s->strings + len;
        *end = '\0';
        /* A map captured from a serial console ends its lines with CR LF. */
        for (char *t = end; t > p && isspace((unsigned char)t[-1]);)
            *--t = '\0';
        for (; is_hex(*q) && digits < 16; q++, digits++)
            addr = addr << 4 |
                   (uint64_t)(isdigit((unsigned char)*q) ? *q - '0' : (tolower(*q) - 'a' + 10));
        if (!digits || *q != ' ')
            continue;
        type = q[1];
        if (q[2] != ' ' || !strchr("tTwW", type) || !type)
            continue;
        name = q + 3;
        /* kallsyms: "NAME\t[MODULE]"; the module stays part of the name. */
        if (!*name || isspace((unsigned char)*name))
            continue;
        for (char *t = name; *t; t++)
            if (*t == '\t')
                *t = ' ';
        if (s->n < cap)
            s->v[s->n++] = (struct symbol){addr, name};
    }
    return finish(s);
}

/* The ELF64 symbol table's STT_FUNC symbols, every offset and size checked
 * against the file. */
static int parse_elf(struct symbols *s, const uint8_t *f, size_t len)
{
    const Elf64_Ehdr *eh = (const void *)f;
    size_t shoff, shnum;

    *s = (struct symbols){0};
    if (len < sizeof(*eh) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shentsize != sizeof(Elf64_Shdr))
        return -EINVAL;
    shoff = eh->e_shoff;
    shnum = eh->e_shnum;
    if (shoff > len || shnum > (len - shoff) / sizeof(Elf64_Shdr))
        return -EINVAL;
    for (size_t i = 0; i < shnum; i++) {
        Elf64_Shdr sh, str;
        size_t count;

        memcpy(&sh, f + shoff + i * sizeof(sh), sizeof(sh));
        if (sh.sh_type != SHT_SYMTAB || sh.sh_link >= shnum || sh.sh_entsize != sizeof(Elf64_Sym) ||
            sh.sh_offset > len || sh.sh_size > len - sh.sh_offset)
            continue;
        memcpy(&str, f + shoff + sh.sh_link * sizeof(str), sizeof(str));
        if (str.sh_offset > len || str.sh_size > len - str.sh_offset || !str.sh_size)
            return -EINVAL;
        count = sh.sh_size / sizeof(Elf64_Sym);
        s->v = calloc(count ? count : 1, sizeof(*s->v));
        s->strings = malloc(str.sh_size + 1);
        if (!s->v || !s->strings) {
            symbols_free(s);
            return -ENOMEM;
        }
        memcpy(s->strings, f + str.sh_offset, str.sh_size);
        s->strings[str.sh_size] = '\0';
        for (size_t j = 0; j < count; j++) {
            Elf64_Sym sym;

            memcpy(&sym, f + sh.sh_offset + j * sizeof(sym), sizeof(sym));
            if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_name >= str.sh_size ||
                !s->strings[sym.st_name])
                continue;
            s->v[s->n++] = (struct symbol){sym.st_value, s->strings + sym.st_name};
        }
        return finish(s);
    }
    symbols_free(s);
    return -ENOENT;
}

static int read_all(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 1 << 20, n = 0;
    uint8_t *buf = NULL, *bigger;
    int err = 0;

    if (!f)
        return -errno;
    for (;;) {
        if (!buf || n == cap) {
            if (buf)
                cap *= 2;
            bigger = realloc(buf, cap);
            if (!bigger) {
                err = -ENOMEM;
                break;
            }
            buf = bigger;
        }
        n += fread(buf + n, 1, cap - n, f);
        if (ferror(f)) {
            err = -EIO;
            break;
        }
        if (feof(f))
            break;
    }
    fclose(f);
    if (err) {
        free(buf);
        return err;
    }
    *out = buf;
    *len = n;
    return 0;
}

int symbols_load(struct symbols *s, const char *path)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int err = read_all(path, &data, &len);

    *s = (struct symbols){0};
    if (err) {
        log_err("%s: cannot read the symbol map: %s", path, strerror(-err));
        return err;
    }
    if (len >= SELFMAG && !memcmp(data, ELFMAG, SELFMAG)) {
        err = parse_elf(s, data, len);
        if (err == -ENOENT)
            log_err("%s: an ELF file without a symbol table (a stripped vmlinux, as Debian's; "
                    "give a System.map or the guest's /proc/kallsyms)",
                    path);
        else if (err)
            log_err("%s: not an ELF64 file with a readable symbol table", path);
    } else {
        err = symbols_parse_map(s, (const char *)data, len);
        if (err == -ENOENT)
            log_err("%s: no code symbols (expected System.map lines: ADDRESS TYPE NAME)", path);
        else if (err)
            log_err("%s: %s", path, strerror(-err));
    }
    free(data);
    return err;
}

const struct symbol *symbols_find(const struct symbols *s, uint64_t addr)
{
    size_t lo = 0, hi = s->n;

    /* The first symbol above addr is v[lo] once lo == hi. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (s->v[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!lo)
        return NULL;
    if (addr - s->v[lo - 1].addr >= SYMBOL_SPAN)
        return NULL;
    return &s->v[lo - 1];
}

void symbols_free(struct symbols *s)
{
    free(s->v);
    free(s->strings);
    *s = (struct symbols){0};
}
