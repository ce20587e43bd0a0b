/*
 * The emu engine behind the engine contract: vx86's own x86-64 CPU. It
 * completes port I/O and MMIO itself on the vCPU thread (through the VM's
 * buses), so vcpu_run only returns for kicks, shutdowns and internal errors.
 *
 * Interrupt controllers and timers are hw/irqchip's software PIC, PIT,
 * IOAPIC and LAPICs; events.c polls them between instructions.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accel/emu/fpu.h"
#include "accel/emu/jit/jit.h"
#include "accel/emu/profile.h"
#include "hw/irqchip/irqchip.h"
#include "util/log.h"
#include "vm/vm.h"

static struct emu_cpu *vcpu_of(struct vm *vm, int index)
{
    return index < vm->nr_vcpus ? (struct emu_cpu *)vm->vcpus[index].accel : NULL;
}

/* The irqchip's "look again" for one vCPU: any thread, no irqchip locks held. */
static void wake_vcpu(void *opaque, int index)
{
    struct emu_cpu *cpu = vcpu_of(opaque, index);

    if (!cpu)
        return; /* not created yet: it polls before its first instruction */
    pthread_mutex_lock(&cpu->lock);
    atomic_store(&cpu->wake, true);
    pthread_cond_signal(&cpu->wake_cond);
    pthread_mutex_unlock(&cpu->lock);
}

static uint64_t vcpu_tsc(void *opaque, int index)
{
    struct emu_cpu *cpu = vcpu_of(opaque, index);

    return cpu ? emu_tsc(cpu) : emu_now_ns();
}

static int emu_vm_init(struct vm *vm)
{
    struct emu_vm *e = calloc(1, sizeof(*e));

    if (!e)
        return -ENOMEM;
    emu_exec_init();
    vm->accel_vm = e;
    pthread_mutex_init(&e->excl_lock, NULL);
    pthread_cond_init(&e->excl_cond, NULL);
    e->base = vm->mem.base;
    e->pages = vm->mem.size >> 12;
    e->code = calloc(e->pages, sizeof(*e->code));
    e->gen = calloc(e->pages, sizeof(*e->gen));
    if (!e->code || !e->gen)
        return -ENOMEM;
    e->chip = irqchip_create(vm, vm->cfg.cpus, EMU_TSC_HZ, vcpu_tsc, wake_vcpu, vm);
    if (!e->chip) {
        int err = -errno;

        log_err("emu engine: cannot create the interrupt controllers: %s", strerror(errno));
        return err;
    }
    return 0;
}

static void emu_vm_destroy(struct vm *vm)
{
    struct emu_vm *e = vm->accel_vm;

    if (!e)
        return;
    if (e->chip)
        irqchip_destroy(e->chip);
    free(e->code);
    free(e->gen);
    pthread_mutex_destroy(&e->excl_lock);
    pthread_cond_destroy(&e->excl_cond);
    free(e);
    vm->accel_vm = NULL;
}

/*
 * Exclusive sections. running and excl_pending are sequentially consistent,
 * so that of a vCPU setting running then reading excl_pending and one
 * setting excl_pending then reading running, at least one sees the other's
 * store: no vCPU runs on into a section that believes it stopped.
 */
void emu_exec_start(struct emu_cpu *cpu)
{
    struct emu_vm *e = cpu->evm;

    atomic_store(&cpu->running, true);
    while (atomic_load(&e->excl_pending)) {
        pthread_mutex_lock(&e->excl_lock);
        atomic_store(&cpu->running, false);
        pthread_cond_broadcast(&e->excl_cond);
        while (atomic_load(&e->excl_pending))
            pthread_cond_wait(&e->excl_cond, &e->excl_lock);
        pthread_mutex_unlock(&e->excl_lock);
        atomic_store(&cpu->running, true);
    }
}

void emu_exec_end(struct emu_cpu *cpu)
{
    struct emu_vm *e = cpu->evm;

    if (!atomic_load_explicit(&cpu->running, memory_order_relaxed))
        return;
    atomic_store(&cpu->running, false);
    if (atomic_load(&e->excl_pending)) {
        pthread_mutex_lock(&e->excl_lock);
        pthread_cond_broadcast(&e->excl_cond);
        pthread_mutex_unlock(&e->excl_lock);
    }
}

void emu_start_exclusive(struct emu_cpu *cpu)
{
    struct emu_vm *e = cpu->evm;
    struct vm *vm = cpu->vm;

    /* Stopped itself first: two vCPUs starting sections wait for each other. */
    emu_exec_end(cpu);
    pthread_mutex_lock(&e->excl_lock);
    while (atomic_load(&e->excl_pending))
        pthread_cond_wait(&e->excl_cond, &e->excl_lock);
    atomic_store(&e->excl_pending, true);
    /* The wake flag ends a vCPU's run of blocks (emu_events_due); the
     * events it then polls for are none: a harmless look. */
    for (int i = 0; i < vm->nr_vcpus; i++)
        if (i != cpu->index)
            atomic_store(&vcpu_of(vm, i)->wake, true);
    for (int i = 0; i < vm->nr_vcpus; i++)
        while (i != cpu->index && atomic_load(&vcpu_of(vm, i)->running))
            pthread_cond_wait(&e->excl_cond, &e->excl_lock);
    pthread_mutex_unlock(&e->excl_lock);
    cpu->exclusive = true;
}

void emu_end_exclusive(struct emu_cpu *cpu)
{
    struct emu_vm *e = cpu->evm;

    if (!cpu->exclusive)
        return;
    cpu->exclusive = false;
    pthread_mutex_lock(&e->excl_lock);
    atomic_store(&e->excl_pending, false);
    pthread_cond_broadcast(&e->excl_cond);
    pthread_mutex_unlock(&e->excl_lock);
    /* Back among the running, behind any section another vCPU has begun. */
    emu_exec_start(cpu);
}

/* The power-on state (SDM Vol. 3A Table 9-1) with the boot state laid on
 * top by set_state; also what INIT does. */
void emu_reset(struct emu_cpu *cpu)
{
    memset(cpu->gpr, 0, sizeof(cpu->gpr));
    cpu->rip = 0xfff0;
    cpu->cr2 = cpu->cr3 = cpu->cr4 = cpu->cr8 = cpu->efer = 0;
    cpu->halted = cpu->intr_shadow = cpu->irq_blocked = false;
    cpu->nmi_blocked = false;
    cpu->nmi_pending = 0;
    cpu->pkru = cpu->pkrs = 0;
    memset(cpu->dr, 0, sizeof(cpu->dr));
    cpu->dr6 = DR6_FIXED1;
    cpu->dr7 = DR7_FIXED1;
    cpu->db_pending = cpu->db_due = 0;
    emu_debug_update(cpu);
    cpu->rflags = RFLAGS_FIXED;
    cpu->cr0 = CR0_ET | CR0_CD | CR0_NW;
    cpu->msr.pat = 0x0007040600070406ULL;
    cpu->msr.apic_base = 0xfee00000ULL | (1ULL << 11) | (cpu->index == 0 ? 1ULL << 8 : 0);
    cpu->msr.misc_enable = 1; /* fast strings */
    cpu->delivering = -1;
    for (int i = 0; i < SEG_COUNT; i++)
        cpu->seg[i] = (struct cpu_segment){.limit = 0xffff, .type = 3, .s = 1, .present = 1};
    cpu->seg[SEG_CS].type = 0xb;
    cpu->idt.limit = 0x3ff;
    cpu->gdt.limit = 0xffff;
    cpu->tr = (struct cpu_segment){.limit = 0xffff, .type = 0xb, .present = 1};
    cpu->ldt = (struct cpu_segment){.limit = 0xffff, .type = 2, .present = 1};
    emu_fpu_reset(cpu);
    emu_tlb_flush(cpu, true); /* nothing cached under the old CR0, CR3, CR4 may survive */
}

static int emu_vcpu_init(struct vm *vm, int index, struct accel_vcpu **out)
{
    struct emu_cpu *cpu = aligned_alloc(64, (sizeof(*cpu) + 63) & ~(size_t)63);

    if (!cpu)
        return -ENOMEM;
    memset(cpu, 0, sizeof(*cpu));
    cpu->vm = vm;
    cpu->evm = vm->accel_vm;
    cpu->index = index;
    if (emu_dcache_init(cpu) || emu_blocks_init(cpu) || emu_jit_init(cpu) ||
        (vm->cfg.profile && emu_profile_init(cpu))) {
        emu_dcache_free(cpu);
        emu_blocks_free(cpu);
        emu_jit_free(cpu);
        free(cpu);
        return -ENOMEM;
    }
    /* Without it x87/SSE instructions go the way the page's absence
     * takes them (fpu_exec_host). */
    cpu->fpu = fpu_page_create();
    cpu->trace = getenv("VX86_EMU_TRACE") != NULL;
    pthread_mutex_init(&cpu->lock, NULL);
    {
        pthread_condattr_t attr;

        /* Timer deadlines are CLOCK_MONOTONIC times. */
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&cpu->wake_cond, &attr);
        pthread_condattr_destroy(&attr);
    }
    emu_reset(cpu);
    cpu->wait_sipi = index != 0; /* APs wait for their start-up IPI */
    emu_update_mode(cpu);
    *out = (struct accel_vcpu *)cpu;
    return 0;
}

static void emu_vcpu_destroy(struct accel_vcpu *v)
{
    struct emu_cpu *cpu = (struct emu_cpu *)v;

    if (!cpu)
        return;
    pthread_mutex_destroy(&cpu->lock);
    pthread_cond_destroy(&cpu->wake_cond);
    emu_dcache_free(cpu);
    emu_blocks_free(cpu);
    emu_jit_free(cpu);
    emu_profile_free(cpu);
    fpu_page_destroy(cpu->fpu);
    free(cpu);
}

static int emu_vcpu_run(struct accel_vcpu *v, struct accel_exit *exit)
{
    return emu_run((struct emu_cpu *)v, exit);
}

static void emu_vcpu_kick(struct accel_vcpu *v)
{
    struct emu_cpu *cpu = (struct emu_cpu *)v;

    pthread_mutex_lock(&cpu->lock);
    atomic_store(&cpu->kicked, true);
    pthread_cond_signal(&cpu->wake_cond);
    pthread_mutex_unlock(&cpu->lock);
}

/* struct cpu_state lists the GPRs as rax rbx rcx rdx rsi rdi rsp rbp r8..r15;
 * gpr_order[i] is the gpr[] index of its i-th one. */
static const int gpr_order[16] = {GPR_RAX, GPR_RBX, GPR_RCX, GPR_RDX, GPR_RSI, GPR_RDI,
                                  GPR_RSP, GPR_RBP, 8,       9,       10,      11,
                                  12,      13,      14,      15};

static int emu_get_state(struct accel_vcpu *v, struct cpu_state *s)
{
    struct emu_cpu *cpu = (struct emu_cpu *)v;
    uint64_t *r = &s->rax;

    memset(s, 0, sizeof(*s));
    for (int i = 0; i < 16; i++)
        r[i] = cpu->gpr[gpr_order[i]];
    s->rip = cpu->rip;
    s->rflags = cpu->rflags;
    s->es = cpu->seg[SEG_ES], s->cs = cpu->seg[SEG_CS], s->ss = cpu->seg[SEG_SS];
    s->ds = cpu->seg[SEG_DS], s->fs = cpu->seg[SEG_FS], s->gs = cpu->seg[SEG_GS];
    s->tr = cpu->tr, s->ldt = cpu->ldt, s->gdt = cpu->gdt, s->idt = cpu->idt;
    s->cr0 = cpu->cr0, s->cr2 = cpu->cr2, s->cr3 = cpu->cr3, s->cr4 = cpu->cr4;
    s->cr8 = cpu->cr8, s->efer = cpu->efer;
    return 0;
}

static int emu_set_state(struct accel_vcpu *v, const struct cpu_state *s)
{
    struct emu_cpu *cpu = (struct emu_cpu *)v;
    const uint64_t *r = &s->rax;

    for (int i = 0; i < 16; i++)
        cpu->gpr[gpr_order[i]] = r[i];
    cpu->rip = s->rip;
    cpu->rflags = s->rflags | RFLAGS_FIXED;
    cpu->halted = cpu->triple_fault = false;
    cpu->seg[SEG_ES] = s->es, cpu->seg[SEG_CS] = s->cs, cpu->seg[SEG_SS] = s->ss;
    cpu->seg[SEG_DS] = s->ds, cpu->seg[SEG_FS] = s->fs, cpu->seg[SEG_GS] = s->gs;
    cpu->tr = s->tr, cpu->ldt = s->ldt, cpu->gdt = s->gdt, cpu->idt = s->idt;
    cpu->cr0 = s->cr0, cpu->cr2 = s->cr2, cpu->cr3 = s->cr3, cpu->cr4 = s->cr4;
    cpu->cr8 = s->cr8, cpu->efer = s->efer;
    emu_tlb_flush(cpu, true);
    emu_update_mode(cpu);
    return 0;
}

/* INIT, with IA32_APIC_BASE's power-on value (emu_reset's) given to the
 * LAPIC before its INIT reset. */
static int emu_vcpu_reset(struct accel_vcpu *v, const struct cpu_state *s)
{
    struct emu_cpu *cpu = (struct emu_cpu *)v;
    struct irqchip *chip = cpu->evm->chip;

    emu_reset(cpu);
    lapic_set_base(chip, cpu->index, cpu->msr.apic_base);
    irqchip_init_cpu(chip, cpu->index, !s);
    cpu->wait_sipi = !s;
    if (s)
        return emu_set_state(v, s);
    emu_update_mode(cpu);
    return 0;
}

static int emu_irq_set(struct vm *vm, uint32_t gsi, int level)
{
    struct emu_vm *e = vm->accel_vm;

    irqchip_set_irq(e->chip, gsi, level);
    return 0;
}

static int emu_msi_send(struct vm *vm, uint64_t addr, uint32_t data)
{
    struct emu_vm *e = vm->accel_vm;

    irqchip_msi(e->chip, addr, data);
    return 0;
}

/* emu_code_store() for each page a device wrote. */
static void emu_mem_written(struct vm *vm, uint64_t gpa, uint64_t len)
{
    struct emu_vm *e = vm->accel_vm;
    const uint8_t *p = mem_ptr(&vm->mem, gpa, len), *end;

    if (!p || !len)
        return;
    end = p + len;
    while (p < end) {
        unsigned off = (unsigned)(p - e->base) & 0xfff,
                 n = end - p < 4096 - off ? (unsigned)(end - p) : 4096 - off;

        emu_code_store(e, p, n);
        p += n;
    }
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
    .vcpu_reset = emu_vcpu_reset,
    .irq_set = emu_irq_set,
    .msi_send = emu_msi_send,
    .mem_written = emu_mem_written,
    .profile = emu_profile_write,
};
