/*
 * Events between instructions: start-up IPIs, NMIs, maskable interrupts
 * from the irqchip (PIC/IOAPIC/LAPIC), timers, and HLT. The irqchip calls
 * wake() when it has news for a vCPU; the vCPU polls it then, when its next
 * timer deadline passes, and when RFLAGS.IF opens while an interrupt waits.
 * A halted vCPU sleeps on its condition variable until one of those.
 */
#include <errno.h>
#include <time.h>

#include "accel/emu/cpu/cpu.h"
#include "hw/irqchip/irqchip.h"

uint64_t emu_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t emu_tsc(const struct emu_cpu *cpu)
{
    /* EMU_TSC_HZ is 1 GHz: one tick per nanosecond. */
    return emu_now_ns() + cpu->msr.tsc_offset;
}

/* Sleeps until woken, kicked or the deadline passes. */
static void sleep_until_event(struct emu_cpu *cpu)
{
    struct timespec ts;

    pthread_mutex_lock(&cpu->lock);
    while (!atomic_load(&cpu->kicked) && !atomic_load(&cpu->wake)) {
        if (cpu->deadline == UINT64_MAX) {
            pthread_cond_wait(&cpu->wake_cond, &cpu->lock);
            continue;
        }
        if (emu_now_ns() >= cpu->deadline)
            break;
        ts.tv_sec = (time_t)(cpu->deadline / 1000000000ULL);
        ts.tv_nsec = (long)(cpu->deadline % 1000000000ULL);
        if (pthread_cond_timedwait(&cpu->wake_cond, &cpu->lock, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&cpu->lock);
}

static void start_up(struct emu_cpu *cpu, uint8_t vector)
{
    /* SDM Vol. 3A §8.4.4: the AP starts in real mode at vector:0000. */
    cpu->wait_sipi = false;
    cpu->halted = false;
    cpu->seg[SEG_CS] = (struct cpu_segment){.selector = (uint16_t)(vector << 8),
                                            .base = (uint64_t)vector << 12, .limit = 0xffff,
                                            .type = 0xb, .s = 1, .present = 1};
    cpu->rip = 0;
    emu_update_mode(cpu);
}

/* INTA: delivers the highest-priority interrupt if RFLAGS.IF allows it. */
static void maskable(struct emu_cpu *cpu, struct irqchip *chip)
{
    int vector = irqchip_pending(chip, cpu->index, true);

    cpu->irq_blocked = false;
    if (vector < 0)
        return;
    if (!(cpu->rflags & RFLAGS_IF) || cpu->intr_shadow) {
        cpu->irq_blocked = true;
        return;
    }
    emu_external_interrupt(cpu, irqchip_ack(chip, cpu->index));
}

bool emu_events(struct emu_cpu *cpu)
{
    struct irqchip *chip = cpu->evm->chip;
    uint8_t sipi;

    atomic_store(&cpu->wake, false);
    if (cpu->prof)
        emu_profile_tick(cpu);
    /* An INIT may have a start-up IPI queued behind it (Linux sends them
     * back to back to modern CPUs): take both now, since no wake-up will
     * come for the SIPI again. */
    for (bool again = true; again;) {
        again = false;
        switch (irqchip_take_startup(chip, cpu->index, &sipi)) {
        case IRQCHIP_INIT:
            emu_reset(cpu);
            cpu->wait_sipi = true;
            again = true;
            break;
        case IRQCHIP_SIPI:
            if (cpu->wait_sipi)
                start_up(cpu, sipi);
            break;
        default:
            break;
        }
    }
    if (!cpu->wait_sipi) {
        int limit = cpu->nmi_blocked ? 1 : 2, n = cpu->nmi_pending + irqchip_take_nmi(chip, cpu->index);

        cpu->nmi_pending = (uint8_t)(n < limit ? n : limit);
        /* Not in the shadow of STI or MOV SS, which Intel CPUs extend to
         * NMIs (SDM Vol. 3A §6.8.3; KVM does not inject one there either). */
        if (cpu->nmi_pending && !cpu->nmi_blocked && !cpu->intr_shadow) {
            cpu->nmi_pending--;
            cpu->nmi_blocked = true;
            emu_external_interrupt(cpu, EXC_NMI);
        }
        maskable(cpu, chip);
    }
    cpu->deadline = irqchip_next_deadline(chip, cpu->index);
    if (cpu->prof)
        emu_profile_deadline(cpu);
    if (cpu->wait_sipi || cpu->halted) {
        if (!cpu->pass_limit)
            sleep_until_event(cpu);
        return false;
    }
    return true;
}
