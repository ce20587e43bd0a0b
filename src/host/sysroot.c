/* Reading the host's /proc, /sys and /dev, under $VX86_HOST_ROOT when set. */
#include "host/probe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *host_root(void)
{
    const char *root = getenv("VX86_HOST_ROOT");

    return root && *root ? root : NULL;
}

static int full_path(char *buf, size_t len, const char *path)
{
    const char *root = host_root();
    int n = snprintf(buf, len, "%s%s", root ? root : "", path);

    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

FILE *host_fopen(const char *path)
{
    char full[PATH_MAX];
    int err = full_path(full, sizeof(full), path);

    if (err) {
        errno = -err;
        return NULL;
    }
    return fopen(full, "re");
}

int host_open(const char *path, int flags)
{
    char full[PATH_MAX];
    int err = full_path(full, sizeof(full), path);
    int fd;

    if (err)
        return err;
    fd = open(full, flags | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

bool host_exists(const char *path)
{
    char full[PATH_MAX];
    struct stat st;

    return !full_path(full, sizeof(full), path) && stat(full, &st) == 0;
}

int host_read_line(const char *path, char *buf, size_t len)
{
    FILE *f = host_fopen(path);
    size_t n;

    if (!f)
        return -errno;
    if (!fgets(buf, (int)len, f))
        buf[0] = '\0';
    fclose(f);
    n = strcspn(buf, "\n");
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    buf[n] = '\0';
    return 0;
}

static int not_dot(const struct dirent *d)
{
    return strcmp(d->d_name, ".") && strcmp(d->d_name, "..");
}

int host_scandir(const char *path, struct dirent ***list)
{
    char full[PATH_MAX];
    int err = full_path(full, sizeof(full), path);
    int n;

    if (err)
        return err;
    n = scandir(full, list, not_dot, alphasort);
    return n < 0 ? -errno : n;
}

void host_freedir(struct dirent **list, int n)
{
    for (int i = 0; i < n; i++)
        free(list[i]);
    free(list);
}
