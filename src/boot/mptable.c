/* MP tables; section and table numbers are the MP Specification 1.4's. */
#include "boot/mptable.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "boot/acpi.h"
#include "boot/layout.h"
#include "vm/board.h"
#include "vm/vm.h"

/* §4.1, Table 4-1: the MP floating pointer structure. */
struct __attribute__((packed)) mpf {
    char signature[4];
    uint32_t config; /* physical address of the configuration table */
    uint8_t length;  /* in 16-byte units */
    uint8_t spec_rev;
    uint8_t checksum;
    uint8_t feature[5]; /* [0] = 0: a configuration table is present */
};

/* §4.2, Table 4-2 */
struct __attribute__((packed)) mpc_header {
    char signature[4];
    uint16_t length;
    uint8_t spec_rev, checksum;
    char oem_id[8], product_id[12];
    uint32_t oem_table;
    uint16_t oem_table_size, entry_count;
    uint32_t lapic;
    uint16_t ext_length;
    uint8_t ext_checksum, reserved;
};

/* §4.3.1, Table 4-4 */
struct __attribute__((packed)) mpc_cpu {
    uint8_t type, apic_id, apic_version, flags;
    uint32_t signature, features;
    uint32_t reserved[2];
};

/* §4.3.2, §4.3.3: bus and I/O APIC entries. */
struct __attribute__((packed)) mpc_bus {
    uint8_t type, id;
    char bus_type[6];
};

struct __attribute__((packed)) mpc_ioapic {
    uint8_t type, id, version, flags;
    uint32_t addr;
};

/* §4.3.4, §4.3.5: I/O and local interrupt assignment entries. */
struct __attribute__((packed)) mpc_intsrc {
    uint8_t type, irq_type;
    uint16_t flags;
    uint8_t src_bus, src_irq, dst_apic, dst_pin;
};

_Static_assert(sizeof(struct mpf) == 16 && sizeof(struct mpc_header) == 44, "MP spec");
_Static_assert(sizeof(struct mpc_cpu) == 20 && sizeof(struct mpc_intsrc) == 8, "MP spec");

#define MP_SPEC_REV     4 /* 1.4 */
#define MPC_CPU         0
#define MPC_BUS         1
#define MPC_IOAPIC      2
#define MPC_INTSRC      3
#define MPC_LINTSRC     4
#define CPU_ENABLED     1
#define CPU_BSP         2
#define IOAPIC_ENABLED  1
#define INT_TYPE_INT    0
#define INT_TYPE_NMI    1
#define INT_TYPE_EXTINT 3
#define ALL_LAPICS      0xff
#define ISA_IRQS        16
#define LAPIC_VERSION   0x14 /* the integrated APIC of P6 and later, as ours report */
#define IOAPIC_VERSION  0x11
/* Family 6 and the FPU and APIC feature flags (CPUID 1 EDX bits 0, 9), as
 * Table 4-5 wants them for a processor the OS cannot run CPUID on yet. */
#define CPU_SIGNATURE 0x600
#define CPU_FEATURES  (1u << 0 | 1u << 9)

#define MPC_MAX                                                                                    \
    (sizeof(struct mpc_header) + VM_MAX_CPUS * sizeof(struct mpc_cpu) + sizeof(struct mpc_bus) +   \
     sizeof(struct mpc_ioapic) + (ISA_IRQS + 2) * sizeof(struct mpc_intsrc))

_Static_assert(sizeof(struct mpf) + MPC_MAX <= BOOT_MPTABLE_SIZE, "the MP tables fit");

static uint8_t *put(uint8_t *p, const void *entry, size_t len, uint16_t *count)
{
    memcpy(p, entry, len);
    (*count)++;
    return p + len;
}

int mptable_build(const struct guest_mem *mem, int cpus)
{
    uint8_t buf[sizeof(struct mpf) + MPC_MAX] = {0};
    uint8_t *start = buf + sizeof(struct mpf), *p = start + sizeof(struct mpc_header);
    struct mpf mpf = {.config = (uint32_t)(BOOT_MPTABLE + sizeof(struct mpf)),
                      .length = 1,
                      .spec_rev = MP_SPEC_REV};
    struct mpc_header h = {.spec_rev = MP_SPEC_REV, .lapic = BOARD_LAPIC_BASE};
    struct mpc_bus isa = {MPC_BUS, 0, "ISA   "};
    struct mpc_ioapic io = {MPC_IOAPIC, ACPI_IOAPIC_ID, IOAPIC_VERSION, IOAPIC_ENABLED,
                            BOARD_IOAPIC_BASE};
    uint16_t count = 0;

    if (cpus < 1 || cpus > VM_MAX_CPUS)
        return -EINVAL;
    for (int i = 0; i < cpus; i++) {
        struct mpc_cpu c = {.type = MPC_CPU,
                            .apic_id = (uint8_t)i,
                            .apic_version = LAPIC_VERSION,
                            .flags = CPU_ENABLED | (i == 0 ? CPU_BSP : 0),
                            .signature = CPU_SIGNATURE,
                            .features = CPU_FEATURES};

        p = put(p, &c, sizeof(c), &count);
    }
    p = put(p, &isa, sizeof(isa), &count);
    p = put(p, &io, sizeof(io), &count);
    /* Pin 0 is the 8259s' output (ExtINT); ISA IRQ n is pin n, except the
     * PIT's IRQ 0 on pin 2, which has no IRQ 2 of its own (the cascade). */
    p = put(p, &(struct mpc_intsrc){MPC_INTSRC, INT_TYPE_EXTINT, 0, 0, 0, ACPI_IOAPIC_ID, 0},
            sizeof(struct mpc_intsrc), &count);
    for (uint8_t irq = 0; irq < ISA_IRQS; irq++) {
        struct mpc_intsrc s = {MPC_INTSRC,     INT_TYPE_INT,      0, 0, irq,
                               ACPI_IOAPIC_ID, irq == 0 ? 2 : irq};

        if (irq != 2)
            p = put(p, &s, sizeof(s), &count);
    }
    p = put(p, &(struct mpc_intsrc){MPC_LINTSRC, INT_TYPE_EXTINT, 0, 0, 0, ALL_LAPICS, 0},
            sizeof(struct mpc_intsrc), &count);
    p = put(p, &(struct mpc_intsrc){MPC_LINTSRC, INT_TYPE_NMI, 0, 0, 0, ALL_LAPICS, 1},
            sizeof(struct mpc_intsrc), &count);

    memcpy(h.signature, "PCMP", 4);
    memcpy(h.oem_id, "VX86    ", 8);
    memcpy(h.product_id, "VX86PC      ", 12);
    h.length = (uint16_t)(p - start);
    h.entry_count = count;
    memcpy(start, &h, sizeof(h));
    /* MP checksums are ACPI's: the bytes sum to zero. */
    start[offsetof(struct mpc_header, checksum)] = acpi_checksum(start, h.length);

    memcpy(mpf.signature, "_MP_", 4);
    mpf.checksum = acpi_checksum(&mpf, sizeof(mpf));
    memcpy(buf, &mpf, sizeof(mpf));
    return mem_write(mem, BOOT_MPTABLE, buf, (uint64_t)(p - buf));
}
