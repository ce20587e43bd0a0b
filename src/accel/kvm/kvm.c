/*
 * The kvm engine: hardware-assisted virtualization through Linux KVM, with
 * KVM's in-kernel irqchip (PIC, IOAPIC, LAPIC) and PIT, as Firecracker and
 * kvmtool use them. vx86 handles port I/O and MMIO exits; everything else
 * (paging, interrupts, HLT) stays in the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "accel/accel.h"
#include "accel/kvm/kvm.h"
#include "util/log.h"
#include "vm/vm.h"

/* Addresses KVM on Intel needs for real-mode emulation without unrestricted
 * guest: three pages of TSS and one identity-map page, inside the MMIO hole
 * below the BIOS (the addresses QEMU uses). */
#define KVM_TSS_ADDR          0xfffbd000ULL
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ULL

#define KICK_SIGNAL SIGUSR1

static void kick_handler(int sig)
{
    (void)sig;
}

static int install_kick_handler(void)
{
    struct sigaction sa = {.sa_handler = kick_handler};

    /* No SA_RESTART: KVM_RUN must return EINTR. */
    sigemptyset(&sa.sa_mask);
    return sigaction(KICK_SIGNAL, &sa, NULL) < 0 ? -errno : 0;
}

static struct kvm_cpuid2 *get_supported_cpuid(int sys_fd)
{
    for (int n = 64; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (size_t)n * sizeof(c->entries[0]));

        if (!c)
            return NULL;
        c->nent = (uint32_t)n;
        if (ioctl(sys_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
            return c;
        free(c);
        if (errno != E2BIG)
            return NULL;
    }
    errno = E2BIG;
    return NULL;
}

static int set_memory(struct vm *vm, struct kvm_vm *k)
{
    for (int i = 0; i < vm->mem.nr_regions; i++) {
        const struct mem_region *r = &vm->mem.regions[i];
        struct kvm_userspace_memory_region region = {
            .slot = (uint32_t)i,
            .guest_phys_addr = r->gpa,
            .memory_size = r->size,
            .userspace_addr = (uint64_t)(uintptr_t)r->host,
        };

        if (ioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
            return -errno;
    }
    /* Guest writes to a read-only slot exit as MMIO, where the ROM's bus
     * range drops them (hw/i440fx.c). */
    if (vm->mem.rom.size) {
        struct kvm_userspace_memory_region region = {
            .slot = (uint32_t)vm->mem.nr_regions,
            .flags = KVM_MEM_READONLY,
            .guest_phys_addr = vm->mem.rom.gpa,
            .memory_size = vm->mem.rom.size,
            .userspace_addr = (uint64_t)(uintptr_t)vm->mem.rom.host,
        };

        if (ioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
            return -errno;
    }
    return 0;
}

static int kvm_vm_init(struct vm *vm)
{
    struct kvm_pit_config pit = {.flags = 0};
    struct kvm_vm *k;
    const char *step;
    int err;

    k = calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    k->vm_fd = -1;
    vm->accel_vm = k;
    k->sys_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (k->sys_fd < 0) {
        err = -errno;
        log_err("kvm engine: /dev/kvm: %s", strerror(errno));
        return err;
    }
    step = "KVM_GET_API_VERSION";
    if (ioctl(k->sys_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
        log_err("kvm engine: /dev/kvm speaks an unknown KVM API version");
        return -ENOTSUP;
    }
    step = "KVM_CREATE_VM";
    k->vm_fd = ioctl(k->sys_fd, KVM_CREATE_VM, 0);
    if (k->vm_fd < 0)
        goto fail;
    step = "KVM_GET_VCPU_MMAP_SIZE";
    k->run_size = ioctl(k->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (k->run_size < (int)sizeof(struct kvm_run))
        goto fail;
    step = "KVM_GET_SUPPORTED_CPUID";
    k->cpuid = get_supported_cpuid(k->sys_fd);
    if (!k->cpuid)
        goto fail;
    for (uint32_t i = 0; i < k->cpuid->nent; i++) {
        struct kvm_cpuid_entry2 *e = &k->cpuid->entries[i];

        cpu_model_filter(vm->cfg.cpu_off, e->function, e->index, &e->eax, &e->ebx, &e->ecx,
                         &e->edx);
        /* The vendor string reaches the guest, and KVM's emulator goes by
         * it (SYSCALL in compatibility mode, SYSENTER in long mode); what
         * the host CPU runs natively stays the host vendor's. */
        cpu_model_vendor(vm->cfg.cpu_vendor, e->function, &e->ebx, &e->ecx, &e->edx);
    }
    /* Only VMX needs these; other KVMs may refuse them, which is harmless. */
    if (ioctl(k->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0)
        log_info("kvm engine: KVM_SET_TSS_ADDR: %s (not needed here)", strerror(errno));
    {
        uint64_t identity = KVM_IDENTITY_MAP_ADDR;

        if (ioctl(k->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0)
            log_info("kvm engine: KVM_SET_IDENTITY_MAP_ADDR: %s (not needed here)",
                     strerror(errno));
    }
    step = "KVM_CREATE_IRQCHIP";
    if (ioctl(k->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
        goto fail;
    step = "KVM_SET_GSI_ROUTING";
    err = kvm_irq_routing_init(k);
    if (err) {
        errno = -err;
        goto fail;
    }
    step = "KVM_CREATE_PIT2";
    if (!vm->cfg.no_pit && ioctl(k->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
        goto fail;
    step = "KVM_SET_USER_MEMORY_REGION";
    err = set_memory(vm, k);
    if (err) {
        errno = -err;
        goto fail;
    }
    err = install_kick_handler();
    if (err) {
        errno = -err;
        step = "sigaction";
        goto fail;
    }
    return 0;
fail:
    err = errno ? -errno : -EIO;
    log_err("kvm engine: %s: %s", step, strerror(errno));
    return err;
}

static void kvm_vm_destroy(struct vm *vm)
{
    struct kvm_vm *k = vm->accel_vm;

    if (!k)
        return;
    kvm_irq_routing_destroy(k);
    free(k->cpuid);
    if (k->vm_fd >= 0)
        close(k->vm_fd);
    if (k->sys_fd >= 0)
        close(k->sys_fd);
    free(k);
    vm->accel_vm = NULL;
}

/* The supported CPUID with this vCPU's APIC ID filled in (SDM Vol. 2A, CPUID
 * leaf 01H EBX[31:24] and leaves 0BH/1FH EDX). */
static int set_cpuid(struct accel_vcpu *v)
{
    const struct kvm_cpuid2 *src = v->kvm->cpuid;
    size_t bytes = sizeof(*src) + src->nent * sizeof(src->entries[0]);
    struct kvm_cpuid2 *c = malloc(bytes);
    int err = 0;

    if (!c)
        return -ENOMEM;
    memcpy(c, src, bytes);
    for (uint32_t i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];

        if (e->function == 1)
            e->ebx = (e->ebx & 0x00ffffffu) | ((uint32_t)v->index << 24);
        else if (e->function == 0xb || e->function == 0x1f)
            e->edx = (uint32_t)v->index;
    }
    if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0)
        err = -errno;
    free(c);
    return err;
}

static int kvm_vcpu_init(struct vm *vm, int index, struct accel_vcpu **out)
{
    struct kvm_vm *k = vm->accel_vm;
    struct accel_vcpu *v = calloc(1, sizeof(*v));
    int err;

    if (!v)
        return -ENOMEM;
    v->kvm = k;
    v->index = index;
    v->fd = ioctl(k->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
    if (v->fd < 0) {
        err = -errno;
        free(v);
        return err;
    }
    v->run = mmap(NULL, (size_t)k->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        err = -errno;
        close(v->fd);
        free(v);
        return err;
    }
    err = set_cpuid(v);
    if (err) {
        munmap(v->run, (size_t)k->run_size);
        close(v->fd);
        free(v);
        return err;
    }
    *out = v;
    return 0;
}

static void kvm_vcpu_destroy(struct accel_vcpu *v)
{
    if (!v)
        return;
    munmap(v->run, (size_t)v->kvm->run_size);
    close(v->fd);
    free(v);
}

static void kvm_vcpu_kick(struct accel_vcpu *v)
{
    /* immediate_exit covers a kick that lands just before KVM_RUN. */
    __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (atomic_load(&v->thread_known))
        pthread_kill(v->thread, KICK_SIGNAL);
}

static const char *internal_error_name(uint32_t suberror)
{
    switch (suberror) {
    case KVM_INTERNAL_ERROR_EMULATION:
        return "KVM could not emulate an instruction (emulation failure)";
    case KVM_INTERNAL_ERROR_SIMUL_EX:
        return "KVM met an exception while delivering another (simultaneous exceptions)";
    case KVM_INTERNAL_ERROR_DELIVERY_EV:
        return "KVM could not deliver an event (delivery error)";
    case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
        return "KVM met an unexpected hardware exit";
    default:
        return "KVM internal error";
    }
}

static void describe_internal(const struct kvm_run *run, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s (suberror %u", internal_error_name(run->internal.suberror),
                     run->internal.suberror);

    for (uint32_t i = 0; i < run->internal.ndata && i < 4 && n > 0 && (size_t)n < len; i++)
        n += snprintf(buf + n, len - (size_t)n, ", data[%u] 0x%llx", i,
                      (unsigned long long)run->internal.data[i]);
    if (n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, ")");
}

static int io_exit(struct accel_vcpu *v, struct accel_exit *e)
{
    const struct kvm_run *run = v->run;
    uint64_t bytes = (uint64_t)run->io.size * run->io.count;

    if (run->io.data_offset > (uint64_t)v->kvm->run_size ||
        bytes > (uint64_t)v->kvm->run_size - run->io.data_offset)
        return -EIO;
    e->reason = ACCEL_EXIT_IO;
    e->io.port = run->io.port;
    e->io.size = run->io.size;
    e->io.write = run->io.direction == KVM_EXIT_IO_OUT;
    e->io.count = run->io.count;
    e->io.data = (uint8_t *)run + run->io.data_offset;
    return 0;
}

static int kvm_vcpu_run(struct accel_vcpu *v, struct accel_exit *e)
{
    struct kvm_run *run = v->run;

    if (!atomic_load(&v->thread_known)) {
        v->thread = pthread_self();
        atomic_store(&v->thread_known, true);
    }
    e->why[0] = '\0';
    if (ioctl(v->fd, KVM_RUN, 0) < 0) {
        if (errno == EINTR || errno == EAGAIN) {
            __atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
            e->reason = ACCEL_EXIT_INTR;
            return 0;
        }
        return -errno;
    }
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        return io_exit(v, e);
    case KVM_EXIT_MMIO:
        e->reason = ACCEL_EXIT_MMIO;
        e->mmio.gpa = run->mmio.phys_addr;
        e->mmio.size = (uint8_t)(run->mmio.len <= 8 ? run->mmio.len : 8);
        e->mmio.write = run->mmio.is_write;
        e->mmio.data = run->mmio.data;
        return 0;
    case KVM_EXIT_INTR:
        e->reason = ACCEL_EXIT_INTR;
        return 0;
    case KVM_EXIT_SHUTDOWN:
        e->reason = ACCEL_EXIT_SHUTDOWN;
        return 0;
    case KVM_EXIT_SYSTEM_EVENT:
        switch (run->system_event.type) {
        case KVM_SYSTEM_EVENT_SHUTDOWN:
            e->reason = ACCEL_EXIT_POWEROFF;
            return 0;
        case KVM_SYSTEM_EVENT_RESET:
            e->reason = ACCEL_EXIT_RESET;
            return 0;
        default:
            e->reason = ACCEL_EXIT_INTERNAL;
            snprintf(e->why, sizeof(e->why), "KVM system event %u", run->system_event.type);
            return 0;
        }
    case KVM_EXIT_INTERNAL_ERROR:
        e->reason = ACCEL_EXIT_INTERNAL;
        describe_internal(run, e->why, sizeof(e->why));
        return 0;
    case KVM_EXIT_FAIL_ENTRY:
        e->reason = ACCEL_EXIT_INTERNAL;
        snprintf(e->why, sizeof(e->why), "VM entry failed, hardware reason 0x%llx",
                 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        return 0;
    default:
        e->reason = ACCEL_EXIT_UNKNOWN;
        snprintf(e->why, sizeof(e->why), "KVM exit reason %u", run->exit_reason);
        return 0;
    }
}

static int kvm_ioeventfd(struct vm *vm, uint64_t gpa, unsigned len, bool match, uint64_t data,
                         int fd, bool assign)
{
    struct kvm_vm *k = vm->accel_vm;
    struct kvm_ioeventfd io = {
        .datamatch = data,
        .addr = gpa,
        .len = len,
        .fd = fd,
        .flags =
            (match ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
    };

    return ioctl(k->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

const struct accel_ops accel_kvm_ops = {
    .name = "kvm",
    .vm_init = kvm_vm_init,
    .vm_destroy = kvm_vm_destroy,
    .vcpu_init = kvm_vcpu_init,
    .vcpu_destroy = kvm_vcpu_destroy,
    .vcpu_run = kvm_vcpu_run,
    .vcpu_kick = kvm_vcpu_kick,
    .get_state = kvm_get_state,
    .set_state = kvm_set_state,
    .vcpu_reset = kvm_vcpu_reset,
    .irq_set = kvm_irq_set,
    .msi_send = kvm_msi_send,
    .msi_irqfd = kvm_msi_irqfd,
    .ioeventfd = kvm_ioeventfd,
};
