/* ISO 9660 images with Joliet names (iso9660.h); section numbers are
 * ECMA-119's, 4th edition, and "Joliet" is Microsoft's Joliet
 * specification (1995). */
#include "block/iso9660.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum {
    SEC_PVD = 16, /* §6.2.1: after the 16-sector system area */
    SEC_SVD,
    SEC_TERM,
    SEC_PATH_L,
    SEC_PATH_M,
    SEC_JPATH_L,
    SEC_JPATH_M,
    SEC_ROOT,
    SEC_JROOT,
    SEC_DATA,
};

#define VD_PRIMARY       1 /* §8.4.1 */
#define VD_SUPPLEMENTARY 2 /* §8.5.1 */
#define VD_TERMINATOR    255
#define DR_DIRECTORY     0x02 /* file flags, §9.1.6 */
#define DR_LEN           33   /* a directory record before its identifier, §9.1 */
#define PATH_TABLE_LEN   10   /* the root's record alone, §9.4 */

/* §7.2.3, §7.3.3: both-byte orders, little-endian first. */
static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> 8 * i);
}

static void be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> 8 * (3 - i));
}

static void both16(uint8_t *p, uint16_t v)
{
    p[0] = p[3] = (uint8_t)v;
    p[1] = p[2] = (uint8_t)(v >> 8);
}

static void both32(uint8_t *p, uint32_t v)
{
    le32(p, v);
    be32(p + 4, v);
}

/* A file identifier: its bytes, its length and the ASCII name that
 * orders it. */
struct ident {
    uint8_t b[2 * ISO_NAME_MAX];
    size_t len;
    char key[ISO_NAME_MAX + 1];
};

/* The primary tree's "NAME.;1" (§7.5.1: d-characters; an empty extension
 * keeps its separator) and Joliet's UCS-2 big-endian name without the
 * version suffix, as genisoimage writes it. */
static void make_idents(const char *name, struct ident *prim, struct ident *jol)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < n; i++) {
        char c = name[i];

        prim->key[i] = c == '-' ? '_' : c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
        jol->b[2 * i] = 0;
        jol->b[2 * i + 1] = (uint8_t)c;
    }
    prim->key[n] = 0;
    memcpy(prim->b, prim->key, n);
    memcpy(prim->b + n, ".;1", 3);
    prim->len = n + 3;
    memcpy(jol->key, name, n + 1);
    jol->len = 2 * n;
}

/* §9.3: records go in the order of their identifiers, the shorter padded
 * with spaces. Only the names differ here (empty extensions, version 1),
 * and Joliet's are ASCII in UCS-2, so the ASCII keys decide both trees. */
static bool before(const struct ident *a, const struct ident *b)
{
    size_t al = strlen(a->key), bl = strlen(b->key);

    for (size_t i = 0; i < al || i < bl; i++) {
        char ca = i < al ? a->key[i] : ' ', cb = i < bl ? b->key[i] : ' ';

        if (ca != cb)
            return ca < cb;
    }
    return false;
}

/* One directory record (§9.1) at p; returns its length, even by a padding
 * byte after an identifier of even length (§9.1.12). */
static size_t dir_record(uint8_t *p, uint32_t extent, uint32_t size, uint8_t flags,
                         const uint8_t *id, size_t id_len, const uint8_t date[7])
{
    size_t len = DR_LEN + id_len + !(id_len & 1);

    p[0] = (uint8_t)len;
    both32(p + 2, extent);
    both32(p + 10, size);
    memcpy(p + 18, date, 7);
    p[25] = flags;
    both16(p + 28, 1); /* volume sequence number */
    p[32] = (uint8_t)id_len;
    memcpy(p + 33, id, id_len);
    return len;
}

/* §9.4: the root's record; the root is its own parent (number 1). */
static void path_table(uint8_t *p, uint32_t root, bool msb)
{
    p[0] = 1;
    if (msb) {
        be32(p + 2, root);
        p[6] = 0;
        p[7] = 1;
    } else {
        le32(p + 2, root);
        p[6] = 1;
        p[7] = 0;
    }
}

/* An identifier field of len bytes: text in a-characters padded with
 * spaces, or for Joliet in UCS-2 big-endian padded with 00 20 (an odd
 * field's last byte stays 0). */
static void text_field(uint8_t *p, size_t len, const char *text, bool joliet)
{
    size_t n = strlen(text);

    if (!joliet) {
        memset(p, ' ', len);
        memcpy(p, text, n);
        return;
    }
    for (size_t i = 0; i + 1 < len; i += 2) {
        p[i] = 0;
        p[i + 1] = (uint8_t)(i / 2 < n ? text[i / 2] : ' ');
    }
}

/* §8.4.26.1: "YYYYMMDDHHMMSScc" and the offset from UTC; all '0' and 0 is
 * "not specified". */
static void volume_date(uint8_t *p, const struct tm *t)
{
    char s[17];

    if (!t || t->tm_year < -1899 || t->tm_year > 9999 - 1900 ||
        strftime(s, sizeof(s), "%Y%m%d%H%M%S00", t) != 16)
        memcpy(s, "0000000000000000", 16);
    memcpy(p, s, 16);
    p[16] = 0;
}

struct layout {
    uint32_t sectors;
    const struct tm *tm;
    uint8_t date[7]; /* §9.1.5 */
};

/* A primary (§8.4) or Joliet supplementary (§8.5) volume descriptor. */
static void volume_descriptor(uint8_t *p, const struct layout *l, const char *label, bool joliet)
{
    static const uint8_t root_id = 0;

    p[0] = joliet ? VD_SUPPLEMENTARY : VD_PRIMARY;
    memcpy(p + 1, "CD001", 5);
    p[6] = 1;
    text_field(p + 8, 32, "", joliet); /* system identifier */
    text_field(p + 40, 32, label, joliet);
    both32(p + 80, l->sectors);
    if (joliet)
        memcpy(p + 88, "%/E", 3); /* Joliet: UCS-2 level 3 escape sequence */
    both16(p + 120, 1);           /* volume set size */
    both16(p + 124, 1);           /* volume sequence number */
    both16(p + 128, ISO_SECTOR);
    both32(p + 132, PATH_TABLE_LEN);
    le32(p + 140, joliet ? SEC_JPATH_L : SEC_PATH_L);
    be32(p + 148, joliet ? SEC_JPATH_M : SEC_PATH_M);
    dir_record(p + 156, joliet ? SEC_JROOT : SEC_ROOT, ISO_SECTOR, DR_DIRECTORY, &root_id, 1,
               l->date);
    /* Volume set, publisher, data preparer, application (128 bytes each),
     * copyright, abstract and bibliographic file (37 each). */
    text_field(p + 190, 128, "", joliet);
    text_field(p + 318, 128, "", joliet);
    text_field(p + 446, 128, "", joliet);
    text_field(p + 574, 128, joliet ? "vx86" : "VX86", joliet);
    for (int i = 0; i < 3; i++)
        text_field(p + 702 + 37 * i, 37, "", joliet);
    volume_date(p + 813, l->tm); /* creation */
    volume_date(p + 830, l->tm); /* modification */
    volume_date(p + 847, NULL);  /* expiration */
    volume_date(p + 864, NULL);  /* effective */
    p[881] = 1;                  /* file structure version */
}

/* A root directory: ".", ".." (both the root, §6.8.2.2) and the files in
 * order[]. One sector holds them all (ISO_MAX_FILES, ISO_NAME_MAX). */
static void root_directory(uint8_t *p, uint32_t self, const struct layout *l,
                           const struct iso_file *files, const struct ident *ids,
                           const uint32_t *extent, const int *order, int n)
{
    static const uint8_t dot = 0, dotdot = 1;

    p += dir_record(p, self, ISO_SECTOR, DR_DIRECTORY, &dot, 1, l->date);
    p += dir_record(p, self, ISO_SECTOR, DR_DIRECTORY, &dotdot, 1, l->date);
    for (int i = 0; i < n; i++) {
        int f = order[i];

        p += dir_record(p, extent[f], (uint32_t)files[f].len, 0, ids[f].b, ids[f].len, l->date);
    }
}

static int check(const char *label, const struct iso_file *files, int n)
{
    size_t ll = strlen(label);

    if (n < 1 || n > ISO_MAX_FILES || ll < 1 || ll > ISO_LABEL_MAX ||
        strspn(label, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != ll)
        return -EINVAL;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(files[i].name);

        if (nl < 1 || nl > ISO_NAME_MAX ||
            strspn(files[i].name, "abcdefghijklmnopqrstuvwxyz0123456789-") != nl)
            return -EINVAL;
        for (int j = 0; j < i; j++)
            if (!strcmp(files[i].name, files[j].name))
                return -EINVAL;
    }
    return 0;
}

int iso9660_build(const char *label, const struct iso_file *files, int n, time_t mtime,
                  uint8_t **img, size_t *len)
{
    struct ident prim[ISO_MAX_FILES], jol[ISO_MAX_FILES];
    int order[ISO_MAX_FILES], jorder[ISO_MAX_FILES];
    uint32_t extent[ISO_MAX_FILES];
    struct layout l = {.sectors = SEC_DATA};
    struct tm tm;
    uint8_t *p;
    int err = check(label, files, n);

    if (err)
        return err;
    for (int i = 0; i < n; i++) {
        uint64_t sectors = ((uint64_t)files[i].len + ISO_SECTOR - 1) / ISO_SECTOR;

        if (files[i].len > UINT32_MAX || l.sectors + sectors + ISO_PAD_SECTORS > UINT32_MAX ||
            (l.sectors + sectors + ISO_PAD_SECTORS) * ISO_SECTOR > SIZE_MAX)
            return -EFBIG;
        /* An empty file points where the next would start, as
         * genisoimage's do. */
        extent[i] = l.sectors;
        l.sectors += (uint32_t)sectors;
        make_idents(files[i].name, &prim[i], &jol[i]);
    }
    l.sectors += ISO_PAD_SECTORS;
    /* Insertion sorts of at most ISO_MAX_FILES: each tree has its order. */
    for (int i = 0; i < n; i++) {
        int j;

        for (j = i; j > 0 && before(&prim[i], &prim[order[j - 1]]); j--)
            order[j] = order[j - 1];
        order[j] = i;
        for (j = i; j > 0 && before(&jol[i], &jol[jorder[j - 1]]); j--)
            jorder[j] = jorder[j - 1];
        jorder[j] = i;
    }
    if (!gmtime_r(&mtime, &tm))
        return -EINVAL;
    l.tm = &tm;
    l.date[0] = (uint8_t)(tm.tm_year > 255 ? 255 : tm.tm_year < 0 ? 0 : tm.tm_year);
    l.date[1] = (uint8_t)(tm.tm_mon + 1);
    l.date[2] = (uint8_t)tm.tm_mday;
    l.date[3] = (uint8_t)tm.tm_hour;
    l.date[4] = (uint8_t)tm.tm_min;
    l.date[5] = (uint8_t)tm.tm_sec;
    /* date[6], the offset from UTC in 15-minute steps, is 0 */

    p = calloc(l.sectors, ISO_SECTOR);
    if (!p)
        return -ENOMEM;
    volume_descriptor(p + SEC_PVD * ISO_SECTOR, &l, label, false);
    volume_descriptor(p + SEC_SVD * ISO_SECTOR, &l, label, true);
    p[SEC_TERM * ISO_SECTOR] = VD_TERMINATOR; /* §8.3 */
    memcpy(p + SEC_TERM * ISO_SECTOR + 1, "CD001", 5);
    p[SEC_TERM * ISO_SECTOR + 6] = 1;
    path_table(p + SEC_PATH_L * ISO_SECTOR, SEC_ROOT, false);
    path_table(p + SEC_PATH_M * ISO_SECTOR, SEC_ROOT, true);
    path_table(p + SEC_JPATH_L * ISO_SECTOR, SEC_JROOT, false);
    path_table(p + SEC_JPATH_M * ISO_SECTOR, SEC_JROOT, true);
    root_directory(p + SEC_ROOT * ISO_SECTOR, SEC_ROOT, &l, files, prim, extent, order, n);
    root_directory(p + SEC_JROOT * ISO_SECTOR, SEC_JROOT, &l, files, jol, extent, jorder, n);
    for (int i = 0; i < n; i++)
        if (files[i].len)
            memcpy(p + (size_t)extent[i] * ISO_SECTOR, files[i].data, files[i].len);
    *img = p;
    *len = (size_t)l.sectors * ISO_SECTOR;
    return 0;
}
