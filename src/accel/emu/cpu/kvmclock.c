/*
 * KVM's paravirtual clock (Documentation/virt/kvm/x86/msr.rst), so that a
 * Linux guest reads its frequency instead of calibrating the TSC against
 * the PIT, which an interpreter's timing makes unreliable. The emu TSC runs
 * at 1 GHz from CLOCK_MONOTONIC, so the conversion is exact and never
 * changes: each vCPU's time structure is written once, when the guest
 * registers it (and again if the guest moves the TSC).
 */
#include <string.h>
#include <time.h>

#include "accel/emu/cpu/cpu.h"
#include "vm/vm.h"

/* struct pvclock_vcpu_time_info and struct pvclock_wall_clock. */
struct pvclock_time {
    uint32_t version;
    uint32_t pad0;
    uint64_t tsc_timestamp;
    uint64_t system_time;
    uint32_t tsc_to_system_mul;
    int8_t tsc_shift;
    uint8_t flags;
    uint8_t pad[2];
};

struct pvclock_wall {
    uint32_t version;
    uint32_t sec;
    uint32_t nsec;
};

#define PVCLOCK_TSC_STABLE_BIT 0x01

void emu_kvmclock_publish(struct emu_cpu *cpu)
{
    uint64_t now = emu_now_ns();
    struct pvclock_time t = {
        .version = 2, /* even: consistent */
        .tsc_timestamp = now + cpu->msr.tsc_offset, /* emu_tsc at now */
        /* ns = ((tsc delta << 1) * 2^31) >> 32: one TSC tick per ns. */
        .tsc_to_system_mul = 0x80000000u,
        .tsc_shift = 1,
        .flags = PVCLOCK_TSC_STABLE_BIT,
    };

    if (!(cpu->msr.kvm_system_time & 1))
        return;
    /* kvmclock counts from vx86's start. Both values come from one clock
     * read: with the stable bit, the guest trusts that every vCPU's pair
     * gives the same time for the same TSC (two reads apart made one
     * vCPU's clock run some ns behind another's: kvm-unit-tests'
     * kvmclock_test saw it warp back across vCPUs). */
    t.system_time = vm_uptime_at(cpu->vm, now);
    /* A guest address outside RAM just gets no clock, as with KVM. */
    mem_write(&cpu->vm->mem, cpu->msr.kvm_system_time & ~1ULL, &t, sizeof(t));
}

void emu_kvmclock_wall(struct emu_cpu *cpu, uint64_t gpa)
{
    struct timespec now;
    uint64_t boot_ns, up = vm_uptime_ns(cpu->vm);
    struct pvclock_wall w = {.version = 2};

    /* The wall-clock time at which kvmclock read zero. */
    clock_gettime(CLOCK_REALTIME, &now);
    boot_ns = (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec - up;
    w.sec = (uint32_t)(boot_ns / 1000000000ULL);
    w.nsec = (uint32_t)(boot_ns % 1000000000ULL);
    mem_write(&cpu->vm->mem, gpa, &w, sizeof(w));
}
