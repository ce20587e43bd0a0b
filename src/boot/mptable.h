/*
 * Intel MultiProcessor Specification 1.4 tables, for kernels that boot
 * with ACPI off (or without ACPI support) and parse MP tables instead: the
 * MP floating pointer at BOOT_MPTABLE (layout.h), in the BIOS area where
 * §4 tells an OS to look for it, followed by the configuration table: one
 * processor entry per vCPU, bus 0 ISA, the IOAPIC of acpi.h, the ISA IRQs
 * wired to the IOAPIC as the MADT has them (IRQ 0 on pin 2) and the local
 * APICs' LINT0 (ExtINT, the 8259s) and LINT1 (NMI).
 */
#ifndef VX86_BOOT_MPTABLE_H
#define VX86_BOOT_MPTABLE_H

#include "vm/mem.h"

/* Writes the tables for cpus vCPUs (1 to VM_MAX_CPUS). Returns 0, -EINVAL
 * for a bad cpu count, -EFAULT if RAM cannot hold them. */
int mptable_build(const struct guest_mem *mem, int cpus);

#endif
