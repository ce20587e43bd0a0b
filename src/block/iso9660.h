/*
 * A read-only ISO 9660 (ECMA-119) image of a few small files in its root
 * directory, built in memory: the primary tree with level 2 names
 * ("USER_DATA.;1"), and Joliet's supplementary tree (UCS-2, the names
 * exactly as given), which Linux, the BSDs and Windows read in preference.
 * It is what `genisoimage -joliet` writes for such files, without the Rock
 * Ridge extensions (POSIX modes and owners), which a seed does not need.
 *
 * Layout, in 2048-byte sectors: 0-15 the empty system area (§6.2.1), 16
 * the primary volume descriptor, 17 Joliet's supplementary one, 18 the
 * set terminator, 19-22 the path tables (primary L and M, Joliet L and M),
 * 23 and 24 the two root directories, each file from a sector boundary
 * in the order given, and ISO_PAD_SECTORS of zeros.
 */
#ifndef VX86_BLOCK_ISO9660_H
#define VX86_BLOCK_ISO9660_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define ISO_SECTOR 2048
/* genisoimage's -pad, on by default: 300 KiB of zeros at the end, which
 * readers that read a fixed 68 KiB at the start expect (busybox's
 * volume_id, hence its findfs and mount, finds no file system in less). */
#define ISO_PAD_SECTORS 150
#define ISO_MAX_FILES   8
/* Level 2 allows 30 d-characters of name and extension (§7.5.1). */
#define ISO_NAME_MAX 30
/* The Joliet volume identifier holds 16 UCS-2 characters. */
#define ISO_LABEL_MAX 16

struct iso_file {
    const char *name; /* 1 to ISO_NAME_MAX of a-z, 0-9 and '-' */
    const void *data; /* may be NULL when len is 0 */
    size_t len;
};

/*
 * Builds the image of files[0..n) (1 <= n <= ISO_MAX_FILES, distinct
 * names) labelled label (1 to ISO_LABEL_MAX characters of A-Z, a-z, 0-9,
 * '_' and '-', written as given in both volume descriptors, as genisoimage
 * does), every date being mtime (UTC). On success *img is a malloc'ed
 * buffer of *len bytes, a whole number of ISO_SECTOR, that the caller
 * frees. Returns 0, -EINVAL (a bad name, label or count), -EFBIG (the
 * image passes ISO 9660's 32-bit sizes) or -ENOMEM.
 */
int iso9660_build(const char *label, const struct iso_file *files, int n, time_t mtime,
                  uint8_t **img, size_t *len);

#endif
