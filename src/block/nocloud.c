/* cloud-init's NoCloud seed (nocloud.h). */
#include "block/nocloud.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/iso9660.h"
#include "util/log.h"

struct seed_file {
    uint8_t *data;
    size_t len;
};

/* Reads the file at path (opt: how the user named it, for messages)
 * whole, up to NOCLOUD_FILE_MAX bytes; *mtime, if not NULL, gets its
 * modification time. One byte of room past the bound tells a file at it
 * from one past it. */
static int read_seed_file(const char *opt, const char *path, struct seed_file *f, time_t *mtime)
{
    struct stat st;
    int fd, err = 0;

    f->len = 0;
    f->data = malloc(NOCLOUD_FILE_MAX + 1);
    if (!f->data) {
        log_err("--cloud-init %s%s: out of memory", opt, path);
        return -ENOMEM;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st)) {
        log_err("--cloud-init %s%s: %s", opt, path, strerror(errno));
        err = -EINVAL;
        goto out;
    }
    if (mtime)
        *mtime = st.st_mtime;
    while (f->len <= NOCLOUD_FILE_MAX) {
        ssize_t r = read(fd, f->data + f->len, NOCLOUD_FILE_MAX + 1 - f->len);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            log_err("--cloud-init %s%s: %s", opt, path, strerror(errno));
            err = -EINVAL;
            goto out;
        }
        if (r == 0)
            break;
        f->len += (size_t)r;
    }
    if (f->len > NOCLOUD_FILE_MAX) {
        log_err("--cloud-init %s%s: larger than %u MiB, a seed file's limit", opt, path,
                NOCLOUD_FILE_MAX >> 20);
        err = -EINVAL;
    }
out:
    if (fd >= 0)
        close(fd);
    if (err) {
        free(f->data);
        f->data = NULL;
    }
    return err;
}

/* FNV-1a, 64 bits: a stable id, not a secret. */
static uint64_t fnv1a(const uint8_t *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

int nocloud_build(const struct vm_cloud_init *ci, uint8_t **img, size_t *len)
{
    struct seed_file user = {0}, meta = {0}, net = {0};
    struct iso_file files[3];
    char meta_default[80];
    time_t mtime = 0;
    int n = 0, err;

    err = read_seed_file("", ci->user_data, &user, &mtime);
    if (!err && ci->meta_data)
        err = read_seed_file("meta-data=", ci->meta_data, &meta, NULL);
    if (!err && ci->network_config)
        err = read_seed_file("network-config=", ci->network_config, &net, NULL);
    if (err)
        goto out;
    files[n++] = (struct iso_file){"user-data", user.data, user.len};
    if (ci->meta_data) {
        files[n++] = (struct iso_file){"meta-data", meta.data, meta.len};
    } else {
        int k = snprintf(meta_default, sizeof(meta_default),
                         "instance-id: iid-vx86-%016" PRIx64 "\nlocal-hostname: vx86\n",
                         fnv1a(user.data, user.len));

        files[n++] = (struct iso_file){"meta-data", meta_default, (size_t)k};
    }
    if (ci->network_config)
        files[n++] = (struct iso_file){"network-config", net.data, net.len};
    err = iso9660_build(NOCLOUD_LABEL, files, n, mtime, img, len);
    if (err)
        log_err("--cloud-init %s: cannot build the seed: %s", ci->user_data, strerror(-err));
out:
    free(user.data);
    free(meta.data);
    free(net.data);
    return err == -ENOMEM || !err ? err : -EINVAL;
}

/* The image in a memfd sealed against any change (memfd_create(2)). */
static int seal_in_memfd(const uint8_t *img, size_t len)
{
    int fd = memfd_create(NOCLOUD_LABEL, MFD_CLOEXEC | MFD_ALLOW_SEALING);

    if (fd < 0)
        return -errno;
    for (size_t done = 0; done < len;) {
        ssize_t r = write(fd, img + done, len - done);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int err = r < 0 ? -errno : -EIO;

            close(fd);
            return err;
        }
        done += (size_t)r;
    }
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)) {
        int err = -errno;

        close(fd);
        return err;
    }
    return fd;
}

int nocloud_attach(struct vm_config *cfg)
{
    struct vm_cloud_init *ci = &cfg->cloud_init;
    uint8_t *img;
    size_t len;
    int fd, err;

    if (cfg->nr_disks == VM_MAX_DISKS) {
        log_err("--cloud-init %s: its seed is a disk, and %d --disk already take every slot",
                ci->user_data, VM_MAX_DISKS);
        return -EINVAL;
    }
    err = nocloud_build(ci, &img, &len);
    if (err)
        return err;
    fd = seal_in_memfd(img, len);
    free(img);
    if (fd < 0) {
        log_err("--cloud-init %s: cannot hold the seed in memory: %s", ci->user_data,
                strerror(-fd));
        return fd;
    }
    snprintf(ci->path, sizeof(ci->path), "/proc/self/fd/%d", fd);
    /* Its serial is "cidata", not the descriptor's number in the path. */
    cfg->disks[cfg->nr_disks++] = (struct vm_disk){.path = ci->path, .ro = true, .id = "cidata"};
    return 0;
}
