/*
 * The virtio-console's input side (console.c), for vx86's console
 * (vm/console.c): what the user types goes to hvc0 as well as to COM1.
 */
#ifndef VX86_VIRTIO_CONSOLE_H
#define VX86_VIRTIO_CONSOLE_H

#include <stdint.h>

struct virtio_dev;

/*
 * Hands len typed bytes to the guest through receiveq: into the buffers
 * the driver posted, the rest kept (4 KiB at most, across driver resets)
 * until it posts more. Returns how many bytes were taken; the others did
 * not fit and are dropped. d: a device of virtio_console_create(). Any
 * thread; takes d->lock.
 */
int virtio_console_input(struct virtio_dev *d, const uint8_t *buf, int len);

#endif
