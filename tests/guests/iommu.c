/*
 * The VT-d unit (vx86 run --iommu --device edu) as a driver uses it, with
 * QEMU's edu device as the DMA and interrupt source (VT-d spec section
 * numbers): a root and context table and a 3-level second-level table
 * (§3.4-3.6, §9.1-9.3, §9.8), a queued invalidation with a wait
 * descriptor's status write (§6.5.2), edu DMA through the translation both
 * ways, a write to a read-only page recorded as a fault (§7.2) and a read
 * of an unmapped page raising the fault event interrupt (§7.3), then
 * interrupt remapping (§5.1): edu's MSI in remappable format, its INTx
 * through a remappable level-triggered IOAPIC entry (twice: the EOI must
 * reach the IOAPIC), and a compatibility-format MSI blocked (§5.1.1).
 */
#include "lib/guest.h"
#include "lib/trap.h"

#define LAPIC  0xfee00000ul
#define VTD    0xfed90000ul
#define IOAPIC 0xfec00000ul

/* VT-d registers (§11.4). */
#define GCMD   0x18
#define GSTS   0x1c
#define RTADDR 0x20
#define FSTS   0x34
#define FECTL  0x38
#define FEDATA 0x3c
#define FEADDR 0x40
#define IQH    0x80
#define IQT    0x88
#define IQA    0x90
#define IRTA   0xb8
#define FRCD   0x220
#define TE     (1u << 31)
#define SRTP   (1u << 30)
#define QIE    (1u << 26)
#define IRE    (1u << 25)
#define SIRTP  (1u << 24)

/* edu (QEMU docs/specs/edu.rst). */
#define EDU_RAISE 0x60
#define EDU_ACK   0x64
#define EDU_SRC   0x80
#define EDU_DST   0x88
#define EDU_COUNT 0x90
#define EDU_CMD   0x98
#define EDU_BUF   0x40000

#define VEC_FAULT  0x51
#define VEC_MSI    0x52
#define VEC_INTX   0x53
#define VEC_COMPAT 0x54
#define IOVA_RW    0x10000ul
#define IOVA_RO    0x20000ul
#define IOVA_NONE  0x30000ul

#define MMIO32(a) (*(volatile uint32_t *)(a))
#define MMIO64(a) (*(volatile uint64_t *)(a))

static uint64_t root[512] __attribute__((aligned(4096)));
static uint64_t ctx[512] __attribute__((aligned(4096)));
static uint64_t pt3[512] __attribute__((aligned(4096)));
static uint64_t pt2[512] __attribute__((aligned(4096)));
static uint64_t pt1[512] __attribute__((aligned(4096)));
static uint64_t irt[512] __attribute__((aligned(4096)));
static uint64_t iq[512] __attribute__((aligned(4096)));
static volatile uint32_t rw_page[1024] __attribute__((aligned(4096)));
static volatile uint32_t ro_page[1024] __attribute__((aligned(4096)));
static volatile uint32_t wait_status;

static unsigned slot, line, msi;
static uint64_t bar;
static volatile int irqs[256];

static uint32_t cfg_rd(unsigned off)
{
    outl(0xcf8, 0x80000000u | slot << 11 | (off & 0xfc));
    return inl(0xcfc);
}

static void cfg_wr(unsigned off, uint32_t v)
{
    outl(0xcf8, 0x80000000u | slot << 11 | (off & 0xfc));
    outl(0xcfc, v);
}

static void on_irq(struct trap_frame *f)
{
    irqs[f->vector]++;
    if (f->vector == VEC_INTX || f->vector == VEC_MSI)
        MMIO32(bar + EDU_ACK) = 1;
    MMIO32(LAPIC + 0xb0) = 0; /* EOI */
}

/* Lets pending interrupts in. vx86 delivers them at the MMIO write that
 * raised them, so a few instructions with IF set are enough. */
static void take_irqs(void)
{
    for (int i = 0; i < 100; i++)
        asm volatile("sti; nop; cli");
}

static void gcmd(uint32_t bit)
{
    MMIO32(VTD + GCMD) = (MMIO32(VTD + GSTS) & ~(SRTP | SIRTP)) | bit;
    CHECK(MMIO32(VTD + GSTS) & bit);
}

static void dma(uint64_t iova, unsigned off, unsigned count, int to_ram)
{
    MMIO64(bar + EDU_SRC) = to_ram ? EDU_BUF + off : iova;
    MMIO64(bar + EDU_DST) = to_ram ? iova : EDU_BUF + off;
    MMIO64(bar + EDU_COUNT) = count;
    MMIO32(bar + EDU_CMD) = 1 | (to_ram ? 2 : 0);
    while (MMIO32(bar + EDU_CMD) & 1)
        ;
}

/* The reason in the fault recording register, which is then cleared. */
static unsigned take_fault(void)
{
    uint64_t hi = MMIO64(VTD + FRCD + 8);

    if (!(hi >> 63))
        return 0;
    MMIO32(VTD + FRCD + 12) = 1u << 31;
    CHECK((hi & 0xffff) == slot << 3);
    return hi >> 32 & 0xff;
}

static void ioapic_write(unsigned reg, uint32_t v)
{
    MMIO32(IOAPIC) = reg;
    MMIO32(IOAPIC + 0x10) = v;
}

/* IRTE idx: vector to APIC 0 (xAPIC format: DST bits 15:8), fixed;
 * source-id verified against the edu's devfn. */
static void irte(unsigned idx, unsigned vector, int level)
{
    irt[2 * idx] = 1 | (level ? 1u << 4 : 0) | (uint64_t)vector << 16;
    irt[2 * idx + 1] = (slot << 3) | 1u << 18;
}

static void msi_to(uint32_t addr, uint16_t data)
{
    cfg_wr(msi + 4, addr);
    cfg_wr(msi + 8, 0);
    cfg_wr(msi + 12, data);
    cfg_wr(msi, cfg_rd(msi) | 1u << 16); /* Message Control: enable */
}

static void dma_remapping(void)
{
    root[0] = (uint64_t)ctx | 1;
    ctx[2 * (slot << 3)] = (uint64_t)pt3 | 1;
    ctx[2 * (slot << 3) + 1] = 1 | 7 << 8; /* AW 39 bits, domain 7 */
    pt3[0] = (uint64_t)pt2 | 3;
    pt2[0] = (uint64_t)pt1 | 3;
    pt1[IOVA_RW >> 12] = (uint64_t)rw_page | 3;
    pt1[IOVA_RO >> 12] = (uint64_t)ro_page | 1;
    MMIO64(VTD + RTADDR) = (uint64_t)root;
    gcmd(SRTP);
    /* A wait descriptor with a status write, queued. */
    MMIO64(VTD + IQA) = (uint64_t)iq;
    MMIO32(VTD + IQT) = 0;
    gcmd(QIE);
    iq[0] = 5 | 1u << 5 | 0x600dull << 32;
    iq[1] = (uint64_t)&wait_status;
    MMIO32(VTD + IQT) = 1 << 4;
    CHECK(wait_status == 0x600d);
    CHECK(MMIO64(VTD + IQH) == 1 << 4);
    gcmd(TE);

    rw_page[0] = 0x12345678;
    ro_page[0] = 0xcafe;
    dma(IOVA_RW, 0, 4, 0);
    dma(IOVA_RW + 8, 0, 4, 1);
    CHECK(rw_page[2] == 0x12345678);
    dma(IOVA_RO, 16, 4, 0); /* reading a read-only page is fine */
    dma(IOVA_RW + 12, 16, 4, 1);
    CHECK(rw_page[3] == 0xcafe);
    CHECK(MMIO32(VTD + FSTS) == 0);
    dma(IOVA_RO + 4, 0, 4, 1);
    CHECK(ro_page[1] == 0);
    CHECK(MMIO32(VTD + FSTS) & 2); /* PPF */
    CHECK(take_fault() == 5);      /* write without write permission */
    CHECK(MMIO32(VTD + FSTS) == 0);

    MMIO32(VTD + FEDATA) = VEC_FAULT;
    MMIO32(VTD + FEADDR) = 0xfee00000;
    MMIO32(VTD + FECTL) = 0;
    dma(IOVA_NONE, 0, 4, 0);
    take_irqs();
    CHECK(irqs[VEC_FAULT] == 1);
    CHECK(take_fault() == 6); /* read of a page that is not present */
    printf("iommu: DMA through the translation, faults recorded\n");
}

static void interrupt_remapping(void)
{
    irte(1, VEC_MSI, 0);
    irte(2, VEC_INTX, 1);
    MMIO64(VTD + IRTA) = (uint64_t)irt | 7; /* 256 entries */
    gcmd(SIRTP);
    gcmd(IRE);

    msi_to(0xfee00000 | 1 << 5 | 1 << 4, 0); /* handle 1, remappable */
    MMIO32(bar + EDU_RAISE) = 1;
    take_irqs();
    CHECK(irqs[VEC_MSI] == 1);

    cfg_wr(msi, cfg_rd(msi) & ~(1u << 16));             /* MSI off: INTx */
    ioapic_write(0x11 + 2 * line, 2u << 17 | 1u << 16); /* index 2, remappable */
    ioapic_write(0x10 + 2 * line, 1u << 15 | VEC_INTX); /* level, unmasked */
    for (int i = 1; i <= 2; i++) {
        MMIO32(bar + EDU_RAISE) = 1;
        take_irqs();
        CHECK(irqs[VEC_INTX] == i);
    }
    ioapic_write(0x10 + 2 * line, 1u << 16);

    msi_to(0xfee00000, VEC_COMPAT); /* compatibility format: blocked */
    MMIO32(bar + EDU_RAISE) = 1;
    take_irqs();
    CHECK(irqs[VEC_COMPAT] == 0);
    CHECK(take_fault() == 0x25);
    MMIO32(bar + EDU_ACK) = 1;
    printf("iommu: MSI and IOAPIC interrupts remapped\n");
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    (void)cmdline, (void)mem_size;
    idt_init();
    for (unsigned v = VEC_FAULT; v <= VEC_COMPAT; v++)
        trap_set_handler(v, on_irq);
    MMIO32(LAPIC + 0xf0) = 0x1ff; /* SVR: enabled */
    for (slot = 1; slot < 32; slot++)
        if (cfg_rd(0) == (0x11e8u << 16 | 0x1234))
            break;
    CHECK(slot < 32);
    CHECK((MMIO32(VTD) >> 4) == 1); /* version 1.x */
    if (slot == 32)
        guest_finish();
    bar = cfg_rd(0x10) & ~0xful;
    line = cfg_rd(0x3c) & 0xff;
    msi = cfg_rd(0x34) & 0xff;
    CHECK((cfg_rd(msi) & 0xff) == 0x05);
    cfg_wr(0x04, cfg_rd(0x04) | 6); /* memory, bus master */
    dma_remapping();
    interrupt_remapping();
    guest_finish();
}
