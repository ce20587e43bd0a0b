/*
 * The emu engine: vx86's own x86-64 CPU. Not built yet - this placeholder
 * keeps `--engine emu` and the engine table in place and says so clearly.
 */
#include <errno.h>

#include "accel/accel.h"
#include "util/log.h"

static int emu_vm_init(struct vm *vm)
{
    (void)vm;
    log_err("emu engine: not built yet; use --engine kvm");
    return -ENOSYS;
}

static void emu_vm_destroy(struct vm *vm)
{
    (void)vm;
}

static int emu_vcpu_init(struct vm *vm, int index, struct accel_vcpu **out)
{
    (void)vm;
    (void)index;
    (void)out;
    return -ENOSYS;
}

static void emu_vcpu_destroy(struct accel_vcpu *v)
{
    (void)v;
}

static int emu_vcpu_run(struct accel_vcpu *v, struct accel_exit *exit)
{
    (void)v;
    (void)exit;
    return -ENOSYS;
}

static void emu_vcpu_kick(struct accel_vcpu *v)
{
    (void)v;
}

static int emu_get_state(struct accel_vcpu *v, struct cpu_state *s)
{
    (void)v;
    (void)s;
    return -ENOSYS;
}

static int emu_set_state(struct accel_vcpu *v, const struct cpu_state *s)
{
    (void)v;
    (void)s;
    return -ENOSYS;
}

static int emu_irq_set(struct vm *vm, uint32_t gsi, int level)
{
    (void)vm;
    (void)gsi;
    (void)level;
    return -ENOSYS;
}

const struct accel_ops accel_emu_ops = {
    .name = "emu",
    .vm_init = emu_vm_init,
    .vm_destroy = emu_vm_destroy,
    .vcpu_init = emu_vcpu_init,
    .vcpu_destroy = emu_vcpu_destroy,
    .vcpu_run = emu_vcpu_run,
    .vcpu_kick = emu_vcpu_kick,
    .get_state = emu_get_state,
    .set_state = emu_set_state,
    .irq_set = emu_irq_set,
};
