/*
 * Queue notifications without a vCPU exit to vx86: where the engine can
 * bind an eventfd to a guest write (KVM's ioeventfd), the write to a
 * queue's notify register only signals the eventfd, the vCPU goes on in
 * the kernel, and this file's thread passes the notification to the device.
 * Elsewhere (the emu engine, whose MMIO writes are function calls anyway)
 * nothing is bound and the write reaches the transport through the bus.
 *
 * One thread per VM waits on every eventfd and on the VM's stop_fd; it
 * ends when the VM stops. Entries are only added (before or while vCPUs
 * run) and re-bound, never removed until virtio_ioevents_stop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"
#include "util/thread.h"
#include "virtio/virtio.h"
#include "vm/vm.h"

#define MAX_EVENTS (VM_MAX_VIRTIO * VIRTIO_MAX_QUEUES)
#define STOP_TAG   UINT32_MAX

struct ioevent {
    int fd;
    struct virtio_dev *d;
    unsigned q;
    uint64_t gpa; /* 0: not bound */
    unsigned len;
    bool match;
    uint64_t data;
};

struct virtio_ioevents {
    pthread_mutex_t lock; /* n and the bindings */
    pthread_t thread;
    bool started;
    int epfd;
    int n;
    struct ioevent ev[MAX_EVENTS];
};

static void *loop(void *opaque)
{
    struct vm *vm = opaque;
    struct virtio_ioevents *io = vm->ioevents;

    for (;;) {
        struct epoll_event evs[8];
        int n = epoll_wait(io->epfd, evs, 8, -1);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return NULL;
        for (int i = 0; i < n; i++) {
            struct ioevent *e;
            uint64_t count;

            if (evs[i].data.u32 == STOP_TAG)
                return NULL;
            e = &io->ev[evs[i].data.u32];
            if (read(e->fd, &count, sizeof(count)) != sizeof(count))
                continue;
            pthread_mutex_lock(&e->d->lock);
            virtio_notify(e->d, e->q);
            pthread_mutex_unlock(&e->d->lock);
        }
    }
}

static int start(struct vm *vm)
{
    struct virtio_ioevents *io = calloc(1, sizeof(*io));
    struct epoll_event stop = {.events = EPOLLIN, .data.u32 = STOP_TAG};
    int err;

    if (!io)
        return -ENOMEM;
    pthread_mutex_init(&io->lock, NULL);
    io->epfd = epoll_create1(EPOLL_CLOEXEC);
    vm->ioevents = io;
    if (io->epfd < 0 || epoll_ctl(io->epfd, EPOLL_CTL_ADD, vm->stop_fd, &stop) < 0)
        return -errno;
    err = thread_start(&io->thread, "ioevent", SECCOMP_IO, loop, vm);
    if (err)
        return err;
    io->started = true;
    return 0;
}

static struct ioevent *lookup(struct virtio_ioevents *io, struct virtio_dev *d, unsigned q)
{
    for (int i = 0; i < io->n; i++)
        if (io->ev[i].d == d && io->ev[i].q == q)
            return &io->ev[i];
    return NULL;
}

static struct ioevent *add(struct virtio_ioevents *io, struct virtio_dev *d, unsigned q)
{
    struct ioevent *e;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)io->n};

    if (io->n == MAX_EVENTS)
        return NULL;
    e = &io->ev[io->n];
    *e = (struct ioevent){.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), .d = d, .q = q};
    if (e->fd < 0)
        return NULL;
    if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, e->fd, &ev) < 0) {
        close(e->fd);
        return NULL;
    }
    io->n++;
    return e;
}

static int engine_bind(struct vm *vm, const struct ioevent *e, bool assign)
{
    return vm->accel->ioeventfd(vm, e->gpa, e->len, e->match, e->data, e->fd, assign);
}

int virtio_ioevent_bind(struct virtio_dev *d, unsigned q, uint64_t gpa, unsigned len, bool match,
                        uint64_t data)
{
    struct vm *vm = d->vm;
    struct ioevent *e;
    int err = 0;

    if (!vm->accel->ioeventfd)
        return 0;
    if (!vm->ioevents && (err = start(vm)))
        return err;
    pthread_mutex_lock(&vm->ioevents->lock);
    e = lookup(vm->ioevents, d, q);
    if (!e)
        e = add(vm->ioevents, d, q);
    if (!e) {
        err = -ENOSPC;
    } else if (e->gpa != gpa || e->len != len || e->match != match || e->data != data) {
        if (e->gpa)
            engine_bind(vm, e, false);
        e->gpa = gpa, e->len = len, e->match = match, e->data = data;
        if (gpa && (err = engine_bind(vm, e, true)))
            e->gpa = 0; /* the write still reaches the transport through the bus */
    }
    pthread_mutex_unlock(&vm->ioevents->lock);
    return err;
}

void virtio_ioevents_stop(struct vm *vm)
{
    struct virtio_ioevents *io = vm->ioevents;

    if (!io)
        return;
    if (io->started) {
        /* vm_stop has made stop_fd readable by now; make sure of it */
        uint64_t one = 1;

        if (write(vm->stop_fd, &one, sizeof(one)) < 0)
            log_err("virtio: cannot wake the notification thread: %s", strerror(errno));
        pthread_join(io->thread, NULL);
    }
    for (int i = 0; i < io->n; i++) {
        if (io->ev[i].gpa)
            engine_bind(vm, &io->ev[i], false);
        close(io->ev[i].fd);
    }
    if (io->epfd >= 0)
        close(io->epfd);
    pthread_mutex_destroy(&io->lock);
    free(io);
    vm->ioevents = NULL;
}
