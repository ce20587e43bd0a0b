/*
 * The PC's interrupt controllers and timers in software, for the emu
 * engine (the kvm engine has KVM's in-kernel ones): an 8259A pair, an 8254
 * PIT, an IOAPIC and one local APIC per vCPU, wired as on a PC. The PIC,
 * PIT and port 0x61 sit on the VM's PIO bus, the IOAPIC on its MMIO bus;
 * the LAPICs are per vCPU and reached through lapic_mmio_* and lapic_msr_*.
 *
 * Threads: every function may be called from any thread; each device has
 * its own lock (order: PIT, then PIC or IOAPIC, then one LAPIC at a time),
 * and none is held when a function returns or when wake() runs.
 *
 * Wake-ups: wake(opaque, cpu) means "look again": cpu may have a new
 * maskable interrupt, NMI, INIT or SIPI, or an earlier next deadline. It
 * comes from any thread, also from cpu's own (after its LAPIC writes and
 * after each irqchip_ack, as another interrupt may wait behind the one
 * taken). Between wake-ups, what irqchip_pending() answers changes only
 * with time (up to irqchip_next_deadline()) and with if_flag. So a vCPU
 * loop keeps a "look" flag that wake sets; at an instruction boundary where
 * it is set, or once the deadline has passed, it clears it and calls
 * irqchip_take_startup, irqchip_take_nmi and irqchip_pending; it looks again
 * whenever RFLAGS.IF goes from 0 to 1 (STI, POPF, IRET) if the last answer
 * was given with IF clear; and a halted vCPU sleeps until a wake-up or the
 * deadline. irqchip_pending reads the clock, tens of ns: not a call for
 * every instruction.
 *
 * Time: clock_ns (CLOCK_MONOTONIC unless irqchip_set_clock says otherwise).
 * The PIT counts at PIT_HZ, the APIC timer at LAPIC_BUS_HZ (1 GHz, the
 * crystal clock to advertise in CPUID 0x15), TSC-deadline in the TSC
 * that now_tsc gives at tsc_hz.
 */
#ifndef VX86_HW_IRQCHIP_IRQCHIP_H
#define VX86_HW_IRQCHIP_IRQCHIP_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct irqchip;

#define IRQCHIP_INIT 1
#define IRQCHIP_SIPI 2

/* The APIC timer's input clock: the crystal clock for CPUID 0x15 ECX. */
#define LAPIC_BUS_HZ 1000000000ull

/*
 * Creates the PIC, PIT, IOAPIC and ncpus (1-64) LAPICs and registers the
 * PIO devices and the IOAPIC on vm's buses (before any vCPU runs). now_tsc
 * gives cpu's TSC, the time base of IA32_TSC_DEADLINE; NULL derives a TSC
 * from clock_ns and tsc_hz. wake: see above. With vm->cfg.no_pit the PIT
 * and port 0x61 stay off the bus (the PIT, never programmed, gives no IRQ0).
 * Returns NULL (errno set) on failure: ENOMEM, EINVAL for ncpus, or EEXIST
 * when the ports are taken.
 */
struct irqchip *irqchip_create(struct vm *vm, int ncpus, uint64_t tsc_hz,
                               uint64_t (*now_tsc)(void *opaque, int cpu),
                               void (*wake)(void *opaque, int cpu), void *opaque);
/* After every vCPU thread has stopped. The bus ranges stay registered. */
void irqchip_destroy(struct irqchip *c);

/* Replaces the time base (ns, monotonic); for tests, before any vCPU runs. */
void irqchip_set_clock(struct irqchip *c, uint64_t (*clock_ns)(void));

/*
 * A device drives GSI gsi (0-23) to level 1 (asserted) or 0. ISA IRQs 0-15
 * go to both the PIC and the IOAPIC, IRQ0 on IOAPIC pin 2 (the MADT's
 * interrupt source override); GSI 2 (the PIC cascade) is not a device line
 * and is ignored. GSIs 16-23 reach the IOAPIC only.
 */
void irqchip_set_irq(struct irqchip *c, uint32_t gsi, int level);

/*
 * A message-signalled interrupt (PCI MSI/MSI-X): a device's DWORD write of
 * data to addr, which lies in the 0xFEExxxxx window (SDM Vol. 3A §11.11.1:
 * destination ID in bits 19:12, destination mode in bit 2; §11.11.2: vector
 * in data bits 7:0, delivery mode in 10:8, trigger mode in 15). Writes
 * outside the window and reserved delivery modes are dropped, as a
 * chipset does. Returns how many LAPICs accepted it.
 */
int irqchip_msi(struct irqchip *c, uint64_t addr, uint32_t data);

/*
 * The vector of the highest-priority maskable interrupt cpu can take now
 * (if_flag: RFLAGS.IF), or -1; services expired timers (PIT, cpu's LAPIC
 * timer) first, even with if_flag clear. The 8259A's INT through LINT0 in
 * ExtINT mode (virtual wire) comes before the LAPIC's IRR, as in KVM.
 */
int irqchip_pending(struct irqchip *c, int cpu, bool if_flag);

/*
 * The INTA cycle, after irqchip_pending returned >= 0: returns the vector
 * to deliver, which moves from IRR to ISR in the PIC or the LAPIC. It may
 * differ from what irqchip_pending said if something else arrived in
 * between, and is the spurious vector (LAPIC SVR, or PIC IRQ7/15) if the
 * request went away: deliver it all the same.
 */
int irqchip_ack(struct irqchip *c, int cpu);

/* How many NMIs (ICR, IOAPIC or LVT NMI delivery) are pending, 0 to 2;
 * consumes them. */
int irqchip_take_nmi(struct irqchip *c, int cpu);

/*
 * IRQCHIP_INIT: cpu got INIT; its LAPIC has been reset as INIT does, and
 * the CPU must reset and wait for SIPI (not taking interrupts meanwhile).
 * IRQCHIP_SIPI: start at *sipi_vector << 12 (CS = vector << 8, IP = 0).
 * 0: neither. INIT goes first; a SIPI is only taken in wait-for-SIPI, the
 * state APs (cpu > 0) are created in.
 */
int irqchip_take_startup(struct irqchip *c, int cpu, uint8_t *sipi_vector);

/* For an engine that INITs cpu itself (accel.h's vcpu_reset): its LAPIC as
 * INIT leaves it, with no INIT, SIPI or NMI pending, and waiting for SIPI
 * (only a SIPI starts it) or not. From cpu's own thread. */
void irqchip_init_cpu(struct irqchip *c, int cpu, bool wait_sipi);

/* clock_ns time of the next timer event that could give cpu an interrupt
 * (its LAPIC timer; for cpu 0, which services it, the PIT too), in the
 * past if one is due, or UINT64_MAX. */
uint64_t irqchip_next_deadline(struct irqchip *c, int cpu);

/*
 * cpu's LAPIC. MMIO: 32-bit accesses at offset (0-0xfff) in the page at
 * IA32_APIC_BASE, which the engine decodes; registers are 16-byte aligned,
 * other offsets read 0; outside xAPIC mode reads give all ones and writes
 * are dropped. MSRs: the x2APIC range 0x800-0x8ff (x2APIC mode only) and
 * IA32_TSC_DEADLINE (0x6e0); -1 means #GP.
 */
uint32_t lapic_mmio_read(struct irqchip *c, int cpu, uint32_t offset);
void lapic_mmio_write(struct irqchip *c, int cpu, uint32_t offset, uint32_t value);
int lapic_msr_read(struct irqchip *c, int cpu, uint32_t msr, uint64_t *value);
int lapic_msr_write(struct irqchip *c, int cpu, uint32_t msr, uint64_t value);

/* CR8 is TPR[7:4]. */
void lapic_set_cr8(struct irqchip *c, int cpu, uint64_t cr8);
uint64_t lapic_get_cr8(struct irqchip *c, int cpu);

/*
 * IA32_APIC_BASE, which the CPU keeps, was written (or reset to
 * 0xfee00000 | EN | BSP-for-cpu-0, the LAPIC's power-on assumption): bit 11
 * enables the APIC, bit 10 selects x2APIC. The caller checks the
 * transitions the SDM forbids (§11.12.5) and raises #GP itself.
 */
void lapic_set_base(struct irqchip *c, int cpu, uint64_t base);

#endif
