/*
 * Linked into the fuzz targets whose devices print or draw random bytes
 * (COM1, virtio-console, virtio-rng), in place of two host calls: the
 * linker's --wrap sends the devices' calls here (scripts/fuzz-run and
 * meson.build pass it). console_put would make a write(2) per byte, which
 * costs microseconds on a virtualized host, and getrandom's bytes would
 * make an input's run depend on more than the input.
 */
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

void __wrap_console_put(uint8_t byte);
ssize_t __wrap_getrandom(void *buf, size_t len, unsigned int flags);

void __wrap_console_put(uint8_t byte)
{
    (void)byte;
}

ssize_t __wrap_getrandom(void *buf, size_t len, unsigned int flags)
{
    (void)flags;
    memset(buf, 0xa5, len);
    return (ssize_t)len;
}
