/* The NoCloud seed (block/nocloud.h) and its ISO 9660 builder
 * (block/iso9660.h), read back by a reader of this test's own that follows
 * ECMA-119 and Joliet; and --cloud-init's parsing (vm/config.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "block/iso9660.h"
#include "block/nocloud.h"
#include "machine/config.h"

#define SECTOR 2048

struct rd_file {
    char name[64];
    const uint8_t *data;
    uint32_t size;
};

struct rd_tree {
    char label[40];
    int n;
    struct rd_file f[16];
};

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

/* A both-byte-order field (ECMA-119 §7.2.3, §7.3.3): the halves agree. */
static uint32_t both32(const uint8_t *p)
{
    assert_int_equal(le32(p), be32(p + 4));
    return le32(p);
}

static uint16_t both16(const uint8_t *p)
{
    assert_int_equal(le16(p), (uint16_t)(p[2] << 8 | p[3]));
    return le16(p);
}

/* Text of a descriptor field: a-characters, or UCS-2 big-endian for
 * Joliet (only ASCII expected); trailing spaces dropped. */
static void field_text(const uint8_t *p, size_t len, bool ucs2, char *out)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i += ucs2 ? 2 : 1) {
        if (ucs2)
            assert_int_equal(p[i], 0);
        out[n++] = (char)p[i + ucs2];
    }
    while (n && out[n - 1] == ' ')
        n--;
    out[n] = 0;
}

/*
 * Reads the root directory of the volume descriptor of type (1: primary,
 * 2: supplementary with a Joliet escape sequence) into t, checking what
 * a reader relies on: the signature, the sizes, the path tables, the
 * "." and ".." records, records inside the image and in sorted order.
 */
static void read_tree(const uint8_t *img, size_t len, int type, struct rd_tree *t)
{
    const uint8_t *vd = NULL, *root, *dir, *pt;
    uint32_t root_extent, root_size;
    bool joliet = type == 2;

    memset(t, 0, sizeof(*t));
    assert_int_equal(len % SECTOR, 0);
    for (size_t s = 16; (s + 1) * SECTOR <= len; s++) {
        const uint8_t *p = img + s * SECTOR;

        assert_memory_equal(p + 1, "CD001", 5);
        assert_int_equal(p[6], 1);
        if (p[0] == 255)
            break;
        if (p[0] == type &&
            (!joliet || (p[88] == '%' && p[89] == '/' && strchr("@CE", p[90]) && p[90]))) {
            vd = p;
            break;
        }
    }
    assert_non_null(vd);
    field_text(vd + 40, 32, joliet, t->label);
    assert_int_equal((uint64_t)both32(vd + 80) * SECTOR, len);
    assert_int_equal(both16(vd + 128), SECTOR);
    root = vd + 156;
    assert_int_equal(root[0], 34);
    assert_int_equal(root[32], 1);
    assert_int_equal(root[33], 0);
    assert_true(root[25] & 2);
    root_extent = both32(root + 2);
    root_size = both32(root + 10);
    assert_true(root_size >= SECTOR && root_size % SECTOR == 0);
    assert_true((uint64_t)root_extent * SECTOR + root_size <= len);
    /* §9.4: the L and M path tables name the root at its extent. */
    assert_int_equal(both32(vd + 132), 10);
    pt = img + (size_t)le32(vd + 140) * SECTOR;
    assert_int_equal(pt[0], 1);
    assert_int_equal(le32(pt + 2), root_extent);
    assert_int_equal(le16(pt + 6), 1);
    pt = img + (size_t)be32(vd + 148) * SECTOR;
    assert_int_equal(be32(pt + 2), root_extent);
    assert_int_equal(pt[7], 1);

    dir = img + (size_t)root_extent * SECTOR;
    for (uint32_t off = 0, i = 0; off < root_size; i++) {
        const uint8_t *r = dir + off;
        uint32_t extent, size;
        char name[64];

        if (r[0] == 0) { /* §6.8.1.1: no record crosses a sector; the rest is zero */
            off = (off / SECTOR + 1) * SECTOR;
            i--;
            continue;
        }
        assert_true(off % SECTOR + r[0] <= SECTOR);
        assert_int_equal(r[0], 33 + r[32] + !(r[32] & 1));
        extent = both32(r + 2);
        size = both32(r + 10);
        assert_int_equal(both16(r + 28), 1);
        if (i < 2) { /* "." and "..": the root itself */
            assert_int_equal(r[32], 1);
            assert_int_equal(r[33], i);
            assert_int_equal(extent, root_extent);
            assert_true(r[25] & 2);
        } else {
            assert_int_equal(r[25], 0);
            assert_true(r[32] < (joliet ? 128 : 64));
            field_text(r + 33, r[32], joliet, name);
            assert_true((uint64_t)extent * SECTOR + size <= len);
            assert_true(t->n < 16);
            /* §9.3: ascending order (the names here sort as bytes do) */
            if (t->n)
                assert_true(strcmp(t->f[t->n - 1].name, name) < 0);
            strcpy(t->f[t->n].name, name);
            t->f[t->n].data = img + (size_t)extent * SECTOR;
            t->f[t->n].size = size;
            t->n++;
        }
        off += r[0];
    }
}

/* The file name of t, or fail. */
static const struct rd_file *find(const struct rd_tree *t, const char *name)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->f[i].name, name))
            return &t->f[i];
    fail_msg("%s is not in the image", name);
    return NULL;
}

/* The file in both trees: the Joliet name exact, the primary one in
 * level 2 form, the same bytes as want. */
static void check_file(const struct rd_tree *jol, const struct rd_tree *prim, const char *name,
                       const char *prim_name, const void *want, size_t len)
{
    const struct rd_file *j = find(jol, name), *p = find(prim, prim_name);

    assert_int_equal(j->size, len);
    assert_int_equal(p->size, len);
    assert_ptr_equal(j->data, p->data);
    if (len)
        assert_memory_equal(j->data, want, len);
}

static char tmpdir[] = "/tmp/vx86-nocloud-XXXXXX";

static char *write_file(const char *name, const void *data, size_t len)
{
    static char paths[8][96];
    static int next;
    char *path = paths[next++ % 8];
    FILE *f;

    snprintf(path, sizeof(paths[0]), "%s/%s", tmpdir, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

static uint8_t *pattern(size_t len, unsigned seed)
{
    uint8_t *p = malloc(len ? len : 1);

    assert_non_null(p);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(i * 131 + (i >> 11) + seed);
    return p;
}

/* Sizes that are not whole sectors, one that is, and an empty file. */
static void test_seed_three_files(void **state)
{
    uint8_t *user = pattern(3001, 1), *net = pattern(SECTOR, 2), *img;
    struct vm_cloud_init ci = {
        .user_data = write_file("ud", user, 3001),
        .meta_data = write_file("md", "", 0),
        .network_config = write_file("nc", net, SECTOR),
    };
    struct rd_tree jol, prim;
    size_t len;

    (void)state;
    assert_int_equal(nocloud_build(&ci, &img, &len), 0);
    read_tree(img, len, 2, &jol);
    read_tree(img, len, 1, &prim);
    assert_string_equal(jol.label, "cidata");
    assert_string_equal(prim.label, "cidata");
    assert_int_equal(jol.n, 3);
    assert_int_equal(prim.n, 3);
    assert_string_equal(jol.f[0].name, "meta-data");
    assert_string_equal(jol.f[1].name, "network-config");
    assert_string_equal(jol.f[2].name, "user-data");
    check_file(&jol, &prim, "user-data", "USER_DATA.;1", user, 3001);
    check_file(&jol, &prim, "meta-data", "META_DATA.;1", "", 0);
    check_file(&jol, &prim, "network-config", "NETWORK_CONFIG.;1", net, SECTOR);
    /* genisoimage's 300 KiB of padding: busybox's volume_id reads 68 KiB. */
    assert_true(len >= 0x11000);
    /* The bytes after a file's end up to its sector's end are zero. */
    for (size_t i = 3001; i < 2 * SECTOR; i++)
        assert_int_equal(find(&jol, "user-data")->data[i], 0);
    free(img);
    free(user);
    free(net);
}

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 14695981039346656037ULL;

    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

/* Without meta-data: an instance id from the user-data, the same image
 * for the same files. */
static void test_seed_default_meta_data(void **state)
{
    const char *user = "#cloud-config\nhostname: guest-1\n";
    struct vm_cloud_init ci = {.user_data = write_file("ud2", user, strlen(user))};
    struct rd_tree jol, prim;
    uint8_t *img, *again;
    size_t len, len2;
    char want[96];

    (void)state;
    assert_int_equal(nocloud_build(&ci, &img, &len), 0);
    read_tree(img, len, 2, &jol);
    read_tree(img, len, 1, &prim);
    assert_int_equal(jol.n, 2);
    snprintf(want, sizeof(want), "instance-id: iid-vx86-%016llx\nlocal-hostname: vx86\n",
             (unsigned long long)fnv1a64(user));
    check_file(&jol, &prim, "meta-data", "META_DATA.;1", want, strlen(want));
    check_file(&jol, &prim, "user-data", "USER_DATA.;1", user, strlen(user));
    assert_int_equal(nocloud_build(&ci, &again, &len2), 0);
    assert_int_equal(len2, len);
    assert_memory_equal(again, img, len);
    free(again);
    free(img);
}

/* NOCLOUD_FILE_MAX bytes are accepted, one more is not; a missing file
 * or a directory is an error. */
static void test_seed_bounds(void **state)
{
    uint8_t *big = pattern(NOCLOUD_FILE_MAX + 1, 3), *img;
    struct vm_cloud_init ci = {.user_data = write_file("max", big, NOCLOUD_FILE_MAX)};
    struct rd_tree jol, prim;
    size_t len;

    (void)state;
    assert_int_equal(nocloud_build(&ci, &img, &len), 0);
    read_tree(img, len, 2, &jol);
    read_tree(img, len, 1, &prim);
    check_file(&jol, &prim, "user-data", "USER_DATA.;1", big, NOCLOUD_FILE_MAX);
    free(img);
    ci.meta_data = write_file("over", big, NOCLOUD_FILE_MAX + 1);
    assert_int_equal(nocloud_build(&ci, &img, &len), -EINVAL);
    ci.meta_data = NULL;
    ci.network_config = "/nonexistent/network-config";
    assert_int_equal(nocloud_build(&ci, &img, &len), -EINVAL);
    ci.network_config = NULL;
    ci.user_data = tmpdir;
    assert_int_equal(nocloud_build(&ci, &img, &len), -EINVAL);
    free(big);
}

/* Each tree in its own order (§9.3): "a-b" comes first in Joliet, but
 * "A_B" after "A0" and "ABC..." in the primary tree; a name of the
 * longest level 2 allows. */
static void test_iso_order_and_names(void **state)
{
    const struct iso_file files[] = {
        {"zz", "1", 1},
        {"a-b", "22", 2},
        {"a0", "333", 3},
        {"abcdefghijklmnopqrstuvwxyz0123", NULL, 0},
    };
    struct rd_tree jol, prim;
    uint8_t *img;
    size_t len;

    (void)state;
    assert_int_equal(iso9660_build("CIDATA", files, 4, 0, &img, &len), 0);
    read_tree(img, len, 2, &jol);
    read_tree(img, len, 1, &prim);
    assert_string_equal(jol.label, "CIDATA");
    assert_string_equal(jol.f[0].name, "a-b");
    assert_string_equal(jol.f[1].name, "a0");
    assert_string_equal(prim.f[0].name, "A0.;1");
    assert_string_equal(prim.f[2].name, "A_B.;1");
    check_file(&jol, &prim, "zz", "ZZ.;1", "1", 1);
    check_file(&jol, &prim, "a-b", "A_B.;1", "22", 2);
    check_file(&jol, &prim, "abcdefghijklmnopqrstuvwxyz0123", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123.;1",
               NULL, 0);
    free(img);
}

static void test_iso_rejects(void **state)
{
    const struct iso_file ok = {"a", "x", 1};
    const struct iso_file bad_names[] = {
        {"", NULL, 0},
        {"User-data", NULL, 0},
        {"user.data", NULL, 0},
        {"user_data", NULL, 0},
        {"abcdefghijklmnopqrstuvwxyz01234", NULL, 0}, /* 31 */
    };
    const struct iso_file twice[] = {ok, ok};
    static const char *const letters[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
    struct iso_file many[ISO_MAX_FILES + 1];
    uint8_t *img = NULL;
    size_t len;

    (void)state;
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
        assert_int_equal(iso9660_build("cidata", &bad_names[i], 1, 0, &img, &len), -EINVAL);
    assert_int_equal(iso9660_build("cidata", twice, 2, 0, &img, &len), -EINVAL);
    assert_int_equal(iso9660_build("cidata", &ok, 0, 0, &img, &len), -EINVAL);
    for (int i = 0; i <= ISO_MAX_FILES; i++)
        many[i] = (struct iso_file){letters[i], NULL, 0};
    assert_int_equal(iso9660_build("cidata", many, ISO_MAX_FILES + 1, 0, &img, &len), -EINVAL);
    assert_int_equal(iso9660_build("cidata", many, ISO_MAX_FILES, 0, &img, &len), 0);
    free(img);
    assert_int_equal(iso9660_build("", &ok, 1, 0, &img, &len), -EINVAL);
    assert_int_equal(iso9660_build("cid ata", &ok, 1, 0, &img, &len), -EINVAL);
    assert_int_equal(iso9660_build("abcdefghijklmnopq", &ok, 1, 0, &img, &len), -EINVAL);
}

static void test_parse_cloud_init(void **state)
{
    struct vm_config cfg = {0};
    char ok[] = "ud.yaml,network-config=n.yaml,meta-data=m.yaml";
    char again[] = "x";
    char *bad[] = {
        (char[]){""},
        (char[]){",meta-data=m"},
        (char[]){"u,meta-data="},
        (char[]){"u,network-config"},
        (char[]){"u,vendor-data=v"},
        (char[]){"u,meta-data=a,meta-data=b"},
        (char[]){"u,"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(config_parse_cloud_init(bad[i], &cfg), -EINVAL);
        assert_null(cfg.cloud_init.user_data);
    }
    assert_int_equal(config_parse_cloud_init(ok, &cfg), 0);
    assert_string_equal(cfg.cloud_init.user_data, "ud.yaml");
    assert_string_equal(cfg.cloud_init.meta_data, "m.yaml");
    assert_string_equal(cfg.cloud_init.network_config, "n.yaml");
    assert_int_equal(config_parse_cloud_init(again, &cfg), -EINVAL);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    static const char *const names[] = {"ud", "md", "nc", "ud2", "max", "over"};
    char path[96];

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    return rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_three_files), cmocka_unit_test(test_seed_default_meta_data),
        cmocka_unit_test(test_seed_bounds),      cmocka_unit_test(test_iso_order_and_names),
        cmocka_unit_test(test_iso_rejects),      cmocka_unit_test(test_parse_cloud_init),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
