/*
 * The engine contract. vx86 has two execution engines, kvm (hardware-assisted
 * through Linux KVM) and emu (vx86's own x86-64 CPU); everything above this
 * header - the vCPU loop, the loaders, the devices - is the same for both.
 *
 * Life cycle, all called from the main thread unless said otherwise:
 *   vm_init      after guest RAM exists, before any vCPU; maps RAM into the engine
 *   vcpu_init    once per vCPU, index 0 is the bootstrap processor
 *   set_state    initial registers, before the vCPU thread starts
 *   vcpu_run     on the vCPU's own thread only; runs until an exit it cannot
 *                handle itself and describes it in *exit
 *   vcpu_kick    from any thread; makes a running or about-to-run vcpu_run
 *                return ACCEL_EXIT_INTR promptly
 *   irq_set      from any thread; drives a platform interrupt line (GSI)
 *   msi_send     from any thread; a device's MSI write of data to addr
 *   msi_irqfd    from any thread; binds eventfd fd so that writing it sends
 *                the MSI addr/data in the kernel (again: a new message; addr
 *                0 unbinds); NULL when the engine has no such path (emu)
 *   ioeventfd    from any thread; (un)binds eventfd fd to the guest's MMIO
 *                write of len bytes at gpa (of value data only, with match):
 *                such a write signals fd and completes without an exit;
 *                NULL when the engine has no such path (emu)
 *   mem_written  from any thread; a device wrote [gpa, gpa + len) of guest RAM
 *                (inside RAM), so code cached from it is stale; NULL when the
 *                engine caches none (kvm)
 *   profile      after all vCPU threads have been joined, before vcpu_destroy:
 *                writes the report of `vx86 run --profile` (vm->cfg.profile
 *                set when the vCPUs were created) to f, naming guest kernel
 *                code from map (NULL: none); NULL when the engine has no
 *                profiler (kvm)
 *   vcpu_reset   on the vCPU's own thread, between two vcpu_run calls: the
 *                vCPU and its local APIC as INIT leaves them (SDM Vol. 3A
 *                §9.1, Table 9-1; §11.4.7.3), nothing pending, IA32_APIC_BASE
 *                at its power-on value; then with s, running at the
 *                registers of s, without (NULL), waiting for a start-up
 *                IPI. For the resume from ACPI S3 (vm_wake)
 *   vcpu_destroy, vm_destroy   after all vCPU threads have been joined
 *
 * Every function returns 0 or -errno unless said otherwise; on failure the
 * engine has printed nothing, the caller reports.
 */
#ifndef VX86_ACCEL_ACCEL_H
#define VX86_ACCEL_ACCEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct vm;
struct accel_vcpu;
struct symbols;

enum accel_exit_reason {
    ACCEL_EXIT_INTR,     /* kicked or interrupted by a signal: check for stop, run again */
    ACCEL_EXIT_IO,       /* port I/O: complete it on exit->io.data, then run again */
    ACCEL_EXIT_MMIO,     /* MMIO outside RAM: complete it on exit->mmio.data */
    ACCEL_EXIT_SHUTDOWN, /* triple fault */
    ACCEL_EXIT_RESET,    /* the guest asked the platform for a reset */
    ACCEL_EXIT_POWEROFF, /* the guest asked the platform to power off */
    ACCEL_EXIT_INTERNAL, /* the engine cannot go on (e.g. emulation failure) */
    ACCEL_EXIT_UNKNOWN,  /* an exit the engine does not know */
};

struct accel_exit {
    enum accel_exit_reason reason;
    union {
        struct {
            uint16_t port;
            uint8_t size; /* 1, 2 or 4 */
            bool write;
            uint32_t count; /* > 1 for REP INS/OUTS: count items of size bytes */
            uint8_t *data;  /* count * size bytes, owned by the engine */
        } io;
        struct {
            uint64_t gpa;
            uint8_t size; /* 1 to 8 */
            bool write;
            uint8_t *data;
        } mmio;
    };
    char why[160]; /* INTERNAL and UNKNOWN: one line for the user */
};

struct cpu_segment {
    uint64_t base;
    uint32_t limit; /* byte granular, as KVM and the descriptor cache hold it */
    uint16_t selector;
    uint8_t type; /* descriptor type field, 4 bits */
    uint8_t s, dpl, present, avl, l, db, g;
    uint8_t unusable;
};

struct cpu_dtable {
    uint64_t base;
    uint16_t limit;
};

/* Architectural state that the loaders set and the error report prints. */
struct cpu_state {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t rip, rflags;
    struct cpu_segment cs, ds, es, fs, gs, ss, tr, ldt;
    struct cpu_dtable gdt, idt;
    uint64_t cr0, cr2, cr3, cr4, cr8, efer;
};

struct accel_ops {
    const char *name;
    int (*vm_init)(struct vm *vm);
    void (*vm_destroy)(struct vm *vm);
    int (*vcpu_init)(struct vm *vm, int index, struct accel_vcpu **out);
    void (*vcpu_destroy)(struct accel_vcpu *v);
    int (*vcpu_run)(struct accel_vcpu *v, struct accel_exit *exit);
    void (*vcpu_kick)(struct accel_vcpu *v);
    int (*get_state)(struct accel_vcpu *v, struct cpu_state *s);
    int (*set_state)(struct accel_vcpu *v, const struct cpu_state *s);
    int (*vcpu_reset)(struct accel_vcpu *v, const struct cpu_state *s);
    int (*irq_set)(struct vm *vm, uint32_t gsi, int level);
    int (*msi_send)(struct vm *vm, uint64_t addr, uint32_t data);
    int (*msi_irqfd)(struct vm *vm, int fd, uint64_t addr, uint32_t data);
    int (*ioeventfd)(struct vm *vm, uint64_t gpa, unsigned len, bool match, uint64_t data, int fd,
                     bool assign);
    void (*mem_written)(struct vm *vm, uint64_t gpa, uint64_t len);
    int (*profile)(struct vm *vm, FILE *f, const struct symbols *map);
};

extern const struct accel_ops accel_kvm_ops;
extern const struct accel_ops accel_emu_ops;

#endif
