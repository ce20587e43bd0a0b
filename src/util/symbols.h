/*
 * Code symbols of a guest kernel, to name the addresses a profile samples.
 * Read from a System.map or /proc/kallsyms text ("ADDRESS TYPE NAME
 * [MODULE]" per line; only text symbols, types t, T, w, W, are kept) or
 * from the symbol table of an ELF64 file (STT_FUNC symbols of a vmlinux
 * that was not stripped). The file is hostile input: a line or entry that
 * does not parse is skipped, never trusted.
 */
#ifndef VX86_UTIL_SYMBOLS_H
#define VX86_UTIL_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

struct symbol {
    uint64_t addr;
    const char *name; /* into struct symbols's strings */
};

struct symbols {
    struct symbol *v; /* sorted by address; ties keep the first name read */
    size_t n;
    char *strings;
};

/*
 * Loads path's code symbols into *s (zeroed first). Returns 0, or -errno
 * after printing one line: the file cannot be read (-errno of the read),
 * is neither an ELF64 file with a symbol table nor a symbol list
 * (-EINVAL), or has no code symbols (-ENOENT).
 */
int symbols_load(struct symbols *s, const char *path);

/* Parses text of System.map / kallsyms format (len bytes) into *s. Returns
 * 0, or -ENOENT when it holds no code symbol, -ENOMEM (s then empty).
 * Prints nothing. */
int symbols_parse_map(struct symbols *s, const char *text, size_t len);

/*
 * The symbol addr lies in: the last one at or below addr, provided addr is
 * less than 256 KiB past it (ends are unknown; the next symbol bounds it).
 * NULL when none does.
 */
const struct symbol *symbols_find(const struct symbols *s, uint64_t addr);

void symbols_free(struct symbols *s);

#endif
