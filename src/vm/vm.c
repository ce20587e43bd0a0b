#include "vm/vm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "host/seccomp.h"
#include "hw/pc.h"
#include "util/log.h"
#include "util/thread.h"
#include "virtio/devices.h"
#include "vm/board.h"
#include "vm/console.h"

int vm_create(struct vm *vm, const struct vm_config *cfg, const struct accel_ops *accel)
{
    int err;

    vm->cfg = *cfg;
    vm->accel = accel;
    pthread_mutex_init(&vm->pause_lock, NULL);
    pthread_cond_init(&vm->pause_cond, NULL);
    vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vm->stop_fd < 0) {
        err = -errno;
        log_err("eventfd: %s", strerror(errno));
        return err;
    }
    bus_init(&vm->pio, "pio");
    bus_init(&vm->mmio, "mmio");
    err = mem_init(&vm->mem, cfg->mem_size);
    if (err) {
        log_err("cannot allocate %" PRIu64 " MiB of guest RAM: %s", cfg->mem_size >> 20,
                strerror(-err));
        return err;
    }
    err = pc_init(vm);
    if (err)
        return err;
    /* The engine first: devices may bind ioeventfds in it. */
    err = accel->vm_init(vm);
    if (err)
        return err;
    err = virtio_devices_create(vm);
    return !err && cfg->rom ? pc_boot_order(vm) : err;
}

int vm_create_vcpus(struct vm *vm, const struct cpu_state *boot)
{
    for (int i = 0; i < vm->cfg.cpus; i++) {
        struct vcpu *v = &vm->vcpus[i];
        int err;

        v->vm = vm;
        v->index = i;
        err = vm->accel->vcpu_init(vm, i, &v->accel);
        if (err) {
            log_err("%s engine: cannot create vCPU %d: %s", vm->accel->name, i, strerror(-err));
            return err;
        }
        vm->nr_vcpus = i + 1;
        if (i == 0) {
            err = vm->accel->set_state(v->accel, boot);
            if (err) {
                log_err("%s engine: cannot set boot registers: %s", vm->accel->name,
                        strerror(-err));
                return err;
            }
        }
    }
    return 0;
}

static bool claim_stop(struct vm *vm)
{
    bool expected = false;

    return atomic_compare_exchange_strong(&vm->stopping, &expected, true);
}

/* After claim_stop succeeded: records the status and wakes everyone. */
static void signal_stop(struct vm *vm, int status)
{
    uint64_t one = 1;

    vm->status = status;
    pthread_mutex_lock(&vm->pause_lock); /* parked threads and vm_pause see it */
    pthread_cond_broadcast(&vm->pause_cond);
    pthread_mutex_unlock(&vm->pause_lock);
    for (int i = 0; i < vm->nr_vcpus; i++)
        vm->accel->vcpu_kick(vm->vcpus[i].accel);
    if (write(vm->stop_fd, &one, sizeof(one)) < 0) {
        /* A single write cannot overflow the counter; nothing to recover. */
    }
}

void vm_stop(struct vm *vm, int status, const char *why)
{
    if (!claim_stop(vm))
        return;
    if (why)
        log_err("%s", why);
    signal_stop(vm, status);
}

void vm_reset(struct vm *vm, const char *why)
{
    if (!claim_stop(vm))
        return;
    if (why)
        log_err("%s", why);
    vm->reset = true;
    signal_stop(vm, VX86_OK);
}

void vm_irq_set(struct vm *vm, uint32_t gsi, int level)
{
    int err = vm->accel->irq_set(vm, gsi, level);

    if (err)
        log_err("%s engine: cannot set IRQ %u: %s", vm->accel->name, gsi, strerror(-err));
    if (gsi >= BOARD_PCI_INTX_GSI)
        pc_pci_intx(vm, gsi, level);
}

void vm_msi_deliver(struct vm *vm, uint64_t addr, uint32_t data)
{
    int err = vm->accel->msi_send(vm, addr, data);

    if (err)
        log_err("%s engine: cannot send an MSI to 0x%" PRIx64 ": %s", vm->accel->name, addr,
                strerror(-err));
}

int vm_msi_remap(struct vm *vm, int sid, uint64_t *addr, uint32_t *data)
{
    if (!vm->cfg.iommu || !vm->pc)
        return 0;
    return vtd_msi_remap(&vm->pc->vtd, sid, addr, data);
}

void vm_msi_send_from(struct vm *vm, int sid, uint64_t addr, uint32_t data)
{
    if (!vm_msi_remap(vm, sid, &addr, &data))
        vm_msi_deliver(vm, addr, data);
}

void vm_msi_send(struct vm *vm, uint64_t addr, uint32_t data)
{
    vm_msi_send_from(vm, VM_SID_NONE, addr, data);
}

bool vm_has_msi_irqfd(const struct vm *vm)
{
    return vm->accel->msi_irqfd != NULL;
}

int vm_msi_irqfd(struct vm *vm, int fd, uint64_t addr, uint32_t data)
{
    int err;

    if (!vm->accel->msi_irqfd)
        return -ENOTSUP;
    err = vm->accel->msi_irqfd(vm, fd, addr, data);
    if (err)
        log_err("%s engine: cannot bind an MSI to an irqfd: %s", vm->accel->name, strerror(-err));
    return err;
}

void vm_mem_written(struct vm *vm, uint64_t gpa, uint64_t len)
{
    if (vm->accel && vm->accel->mem_written && vm->accel_vm && len)
        vm->accel->mem_written(vm, gpa, len);
}

uint64_t vm_uptime_at(const struct vm *vm, uint64_t monotonic_ns)
{
    return monotonic_ns -
           ((uint64_t)vm->start.tv_sec * 1000000000ULL + (uint64_t)vm->start.tv_nsec);
}

uint64_t vm_uptime_ns(const struct vm *vm)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return vm_uptime_at(vm, (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec);
}

int vm_write_profile(struct vm *vm, FILE *f, const struct symbols *map)
{
    int err = vm->accel->profile ? vm->accel->profile(vm, f, map) : -ENOTSUP;

    if (err)
        log_err("--profile %s: cannot write the report: %s", vm->cfg.profile, strerror(-err));
    return err;
}

static void seg_line(const char *name, const struct cpu_segment *s)
{
    fprintf(stderr, "  %-3s %04x base %016" PRIx64 " limit %08x type %x dpl %u%s%s%s\n", name,
            s->selector, s->base, s->limit, s->type, s->dpl, s->l ? " L" : "", s->db ? " D" : "",
            s->present ? "" : " not-present");
}

void vm_dump_vcpu(struct vcpu *vcpu)
{
    struct cpu_state s;

    if (vcpu->vm->accel->get_state(vcpu->accel, &s)) {
        fprintf(stderr, "  (vCPU %d registers unavailable)\n", vcpu->index);
        return;
    }
    fprintf(stderr,
            "  vCPU %d\n"
            "  rip %016" PRIx64 " rflags %016" PRIx64 "\n"
            "  rax %016" PRIx64 " rbx %016" PRIx64 " rcx %016" PRIx64 " rdx %016" PRIx64 "\n"
            "  rsi %016" PRIx64 " rdi %016" PRIx64 " rsp %016" PRIx64 " rbp %016" PRIx64 "\n"
            "  r8  %016" PRIx64 " r9  %016" PRIx64 " r10 %016" PRIx64 " r11 %016" PRIx64 "\n"
            "  r12 %016" PRIx64 " r13 %016" PRIx64 " r14 %016" PRIx64 " r15 %016" PRIx64 "\n"
            "  cr0 %016" PRIx64 " cr2 %016" PRIx64 " cr3 %016" PRIx64 " cr4 %016" PRIx64 "\n"
            "  efer %016" PRIx64 " gdt %016" PRIx64 "/%04x idt %016" PRIx64 "/%04x\n",
            vcpu->index, s.rip, s.rflags, s.rax, s.rbx, s.rcx, s.rdx, s.rsi, s.rdi, s.rsp, s.rbp,
            s.r8, s.r9, s.r10, s.r11, s.r12, s.r13, s.r14, s.r15, s.cr0, s.cr2, s.cr3, s.cr4,
            s.efer, s.gdt.base, s.gdt.limit, s.idt.base, s.idt.limit);
    seg_line("cs", &s.cs);
    seg_line("ss", &s.ss);
    seg_line("ds", &s.ds);
    seg_line("tr", &s.tr);
}

static void complete_io(struct vm *vm, struct accel_exit *e)
{
    uint8_t *p = e->io.data;

    for (uint32_t i = 0; i < e->io.count; i++, p += e->io.size) {
        if (e->io.write) {
            uint64_t v = 0;

            memcpy(&v, p, e->io.size);
            bus_write(&vm->pio, e->io.port, e->io.size, v);
        } else {
            uint64_t v = bus_read(&vm->pio, e->io.port, e->io.size);

            memcpy(p, &v, e->io.size);
        }
    }
}

static void complete_mmio(struct vm *vm, struct accel_exit *e)
{
    if (e->mmio.write) {
        uint64_t v = 0;

        memcpy(&v, e->mmio.data, e->mmio.size);
        bus_write(&vm->mmio, e->mmio.gpa, e->mmio.size, v);
    } else {
        uint64_t v = bus_read(&vm->mmio, e->mmio.gpa, e->mmio.size);

        memcpy(e->mmio.data, &v, e->mmio.size);
    }
}

/* Stops the VM for a fatal exit, with the reason and the registers on stderr. */
static void fatal(struct vcpu *vcpu, int status, const char *what, const char *why)
{
    if (!claim_stop(vcpu->vm))
        return;
    log_err("vCPU %d: %s%s%s", vcpu->index, what, why && *why ? ": " : "", why ? why : "");
    vm_dump_vcpu(vcpu);
    signal_stop(vcpu->vm, status);
}

/* A vCPU thread while vm_pause holds the guest. */
static void park(struct vm *vm)
{
    pthread_mutex_lock(&vm->pause_lock);
    vm->parked++;
    pthread_cond_broadcast(&vm->pause_cond);
    while (atomic_load(&vm->pause_req) && !atomic_load(&vm->stopping))
        pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
    vm->parked--;
    pthread_mutex_unlock(&vm->pause_lock);
}

int vm_pause(struct vm *vm)
{
    int err = 0;

    atomic_store(&vm->pause_req, true);
    for (int i = 0; i < vm->nr_vcpus; i++)
        vm->accel->vcpu_kick(vm->vcpus[i].accel);
    pthread_mutex_lock(&vm->pause_lock);
    while (vm->parked < vm->nr_vcpus && !atomic_load(&vm->stopping))
        pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
    if (atomic_load(&vm->stopping))
        err = -ESHUTDOWN;
    pthread_mutex_unlock(&vm->pause_lock);
    return err;
}

void vm_resume(struct vm *vm)
{
    pthread_mutex_lock(&vm->pause_lock);
    atomic_store(&vm->pause_req, false);
    pthread_cond_broadcast(&vm->pause_cond);
    pthread_mutex_unlock(&vm->pause_lock);
}

void vm_sleep(struct vm *vm, const struct timespec *alarm, void (*ring)(void *opaque), void *opaque)
{
    pthread_mutex_lock(&vm->pause_lock);
    atomic_store(&vm->asleep, true);
    vm->alarm_set = alarm != NULL;
    if (alarm)
        vm->alarm = *alarm;
    vm->ring = ring;
    vm->ring_opaque = opaque;
    pthread_mutex_unlock(&vm->pause_lock);
    for (int i = 0; i < vm->nr_vcpus; i++)
        vm->accel->vcpu_kick(vm->vcpus[i].accel);
}

void vm_wake(struct vm *vm, const struct cpu_state *bsp)
{
    pthread_mutex_lock(&vm->pause_lock);
    if (atomic_load(&vm->asleep)) {
        vm->wake_bsp = *bsp;
        vm->alarm_set = false;
        atomic_fetch_add(&vm->wakes, 1);
        atomic_store(&vm->asleep, false);
        pthread_cond_broadcast(&vm->pause_cond);
    }
    pthread_mutex_unlock(&vm->pause_lock);
}

/*
 * A vCPU thread while the guest sleeps (vm_sleep), or just after a wake it
 * has not been reset for: waits for the wake (vCPU 0 ringing the alarm when
 * it is due: pause_cond has the default clock, CLOCK_REALTIME, the alarm's),
 * then resets the vCPU as the wake says, on its own thread as vcpu_reset
 * wants. Returns -errno if the reset failed.
 */
static int doze(struct vcpu *vcpu)
{
    struct vm *vm = vcpu->vm;
    struct cpu_state bsp;
    unsigned wakes;

    pthread_mutex_lock(&vm->pause_lock);
    vm->parked++;
    pthread_cond_broadcast(&vm->pause_cond); /* vm_pause counts it */
    while (atomic_load(&vm->asleep) && !atomic_load(&vm->stopping)) {
        if (vcpu->index != 0 || !vm->alarm_set) {
            pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
        } else if (pthread_cond_timedwait(&vm->pause_cond, &vm->pause_lock, &vm->alarm) ==
                   ETIMEDOUT) {
            vm->alarm_set = false;
            pthread_mutex_unlock(&vm->pause_lock);
            vm->ring(vm->ring_opaque);
            pthread_mutex_lock(&vm->pause_lock);
        }
    }
    vm->parked--;
    wakes = atomic_load(&vm->wakes);
    bsp = vm->wake_bsp;
    pthread_mutex_unlock(&vm->pause_lock);
    if (atomic_load(&vm->stopping) || wakes == vcpu->woken)
        return 0;
    vcpu->woken = wakes;
    return vm->accel->vcpu_reset(vcpu->accel, vcpu->index == 0 ? &bsp : NULL);
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *vcpu = arg;
    struct vm *vm = vcpu->vm;
    struct accel_exit e;

    while (!atomic_load(&vm->stopping)) {
        int err;

        if (atomic_load(&vm->pause_req)) {
            park(vm);
            continue;
        }
        if (atomic_load(&vm->asleep) || atomic_load(&vm->wakes) != vcpu->woken) {
            err = doze(vcpu);
            if (err) {
                fatal(vcpu, VX86_EHOST, "cannot reset it on waking", strerror(-err));
                break;
            }
            continue;
        }
        err = vm->accel->vcpu_run(vcpu->accel, &e);

        if (err) {
            char why[96];

            snprintf(why, sizeof(why), "%s", strerror(-err));
            fatal(vcpu, VX86_EHOST, "run failed", why);
            break;
        }
        switch (e.reason) {
        case ACCEL_EXIT_INTR:
            break;
        case ACCEL_EXIT_IO:
            complete_io(vm, &e);
            break;
        case ACCEL_EXIT_MMIO:
            complete_mmio(vm, &e);
            break;
        case ACCEL_EXIT_SHUTDOWN:
            fatal(vcpu, VX86_ETRIPLEFAULT, "triple fault, guest shut down", NULL);
            break;
        case ACCEL_EXIT_RESET:
            vm_reset(vm, "guest requested a reset");
            break;
        case ACCEL_EXIT_POWEROFF:
            vm_stop(vm, VX86_OK, "guest powered off");
            break;
        case ACCEL_EXIT_INTERNAL:
            fatal(vcpu, VX86_EINTERNAL, "engine cannot continue", e.why);
            break;
        case ACCEL_EXIT_UNKNOWN:
            fatal(vcpu, VX86_EUNKNOWNEXIT, "unhandled exit", e.why);
            break;
        }
    }
    return NULL;
}

/* stop_fd's watch: the machine stops, and vm_run's loop with it. */
static void stopped(void *opaque, uint32_t events)
{
    (void)events;
    loop_quit(opaque);
}

int vm_run(struct vm *vm, struct loop *loop)
{
    struct loop_watch stop = {0};
    int err;

    if (console_attach(loop, vm)) {
        vm_stop(vm, VX86_EHOST, NULL);
        return vm->status;
    }
    err = loop_watch_add(loop, &stop, vm->stop_fd, EPOLLIN, stopped, loop);
    if (err) {
        log_err("cannot watch the machine's stop: %s", strerror(-err));
        vm_stop(vm, VX86_EHOST, NULL);
    }
    for (int i = 0; i < vm->nr_vcpus && !err; i++) {
        char name[16];

        snprintf(name, sizeof(name), "vcpu %d", i);
        err = thread_start(&vm->vcpus[i].thread, name, SECCOMP_VCPU, vcpu_thread, &vm->vcpus[i]);
        if (err) {
            log_err("cannot start vCPU thread: %s", strerror(-err));
            vm_stop(vm, VX86_EHOST, NULL);
            break;
        }
        vm->vcpus[i].started = true;
    }
    seccomp_apply(SECCOMP_MAIN); /* once its vCPUs run: seccomp.h */
    if (!err && (err = loop_run(loop))) {
        log_err("the event loop failed: %s", strerror(-err));
        vm_stop(vm, VX86_EHOST, NULL);
    }
    for (int i = 0; i < vm->nr_vcpus; i++) {
        if (vm->vcpus[i].started)
            pthread_join(vm->vcpus[i].thread, NULL);
        vm->vcpus[i].started = false;
    }
    loop_watch_del(&stop);
    console_detach();
    return vm->status;
}

void vm_destroy(struct vm *vm)
{
    /* Device threads raise IRQs through the engine: they stop first. */
    virtio_devices_destroy(vm);
    for (int i = 0; i < vm->nr_vcpus; i++)
        vm->accel->vcpu_destroy(vm->vcpus[i].accel);
    vm->nr_vcpus = 0;
    if (vm->accel && vm->accel_vm)
        vm->accel->vm_destroy(vm);
    pc_destroy(vm);
    mem_destroy(&vm->mem);
    pthread_cond_destroy(&vm->pause_cond);
    pthread_mutex_destroy(&vm->pause_lock);
    bus_destroy(&vm->pio);
    bus_destroy(&vm->mmio);
    if (vm->stop_fd >= 0)
        close(vm->stop_fd);
    vm->stop_fd = -1;
}
