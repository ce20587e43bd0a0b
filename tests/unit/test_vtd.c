/* The VT-d unit (hw/iommu/vtd.h) driven through QEMU's edu device
 * (hw/edu.h), as a guest driver would: tables in guest RAM, registers on
 * the MMIO bus, edu's DMA and MSI through the unit. Checks DMA remapping
 * with 4 KiB and 2 MiB pages, translation faults and their recording,
 * interrupt remapping with source-id verification, the invalidation
 * queue, and that hostile table addresses and indexes end in faults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hw/bus.h"
#include "hw/edu.h"
#include "hw/iommu/vtd.h"
#include "hw/msi.h"
#include "hw/pci.h"
#include "vm/board.h"
#include "vm/mem.h"

#define SLOT    6
#define DEVFN   (SLOT << 3)
#define BAR     (BOARD_PCI_MEM32_BASE + 0x200000)
#define RAM     (16ULL << 20)
#define ROOT    0x10000ULL
#define CTX     0x11000ULL
#define PML3    0x12000ULL /* a 3-level table: 39-bit addresses */
#define PML2    0x13000ULL
#define PML1    0x14000ULL
#define IRT     0x20000ULL
#define IQ      0x30000ULL
#define STATUS  0x31000ULL
#define PAGE    0x100000ULL /* IOVA 0x5000 maps here, read-write */
#define BIGPAGE 0x400000ULL /* IOVA 0x200000 maps this 2 MiB, read-only */

/* Register offsets (VT-d spec §11.4). */
enum {
    CAP = 0x08,
    ECAP = 0x10,
    GCMD = 0x18,
    GSTS = 0x1c,
    RTADDR = 0x20,
    FSTS = 0x34,
    FECTL = 0x38,
    FEDATA = 0x3c,
    FEADDR = 0x40,
    IQH = 0x80,
    IQT = 0x88,
    IQA = 0x90,
    ICS = 0x9c,
    IRTA = 0xb8,
    FRCD = 0x220,
};
#define TE    (1u << 31)
#define SRTP  (1u << 30)
#define QIE   (1u << 26)
#define IRE   (1u << 25)
#define SIRTP (1u << 24)

struct fixture {
    struct bus pio, mmio;
    struct guest_mem mem;
    struct pci pci;
    struct vtd vtd;
    struct edu edu;
    int msis, events, irq_level;
    uint64_t msi_addr;
    uint32_t msi_data;
};

static void ev_msi(void *opaque, uint64_t addr, uint32_t data)
{
    struct fixture *f = opaque;

    (void)addr, (void)data;
    f->events++;
}

static void ev_written(void *opaque, uint64_t gpa, uint64_t len)
{
    (void)opaque, (void)gpa, (void)len;
}

static const struct vtd_ops vtd_ops = {.msi = ev_msi, .written = ev_written};

static void edu_irq(void *opaque, unsigned gsi, int level)
{
    struct fixture *f = opaque;

    (void)gsi;
    f->irq_level = level;
}

static void edu_msi(void *opaque, uint16_t sid, uint64_t addr, uint32_t data)
{
    struct fixture *f = opaque;

    if (vtd_msi_remap(&f->vtd, sid, &addr, &data))
        return;
    f->msis++;
    f->msi_addr = addr;
    f->msi_data = data;
}

static int edu_dma(void *opaque, uint16_t sid, uint64_t addr, void *buf, uint64_t len, bool write)
{
    struct fixture *f = opaque;

    return vtd_dma(&f->vtd, sid, addr, buf, len, write);
}

static const struct edu_ops edu_ops = {.irq = edu_irq, .msi = edu_msi, .dma = edu_dma};

static void put64(struct fixture *f, uint64_t gpa, uint64_t v)
{
    assert_int_equal(mem_write(&f->mem, gpa, &v, 8), 0);
}

static uint32_t get32(struct fixture *f, uint64_t gpa)
{
    uint32_t v;

    assert_int_equal(mem_read(&f->mem, gpa, &v, 4), 0);
    return v;
}

static uint64_t rd(struct fixture *f, unsigned off, unsigned size)
{
    return bus_read(&f->mmio, BOARD_VTD_BASE + off, size);
}

static void wr(struct fixture *f, unsigned off, unsigned size, uint64_t v)
{
    bus_write(&f->mmio, BOARD_VTD_BASE + off, size, v);
}

static void cfg_write(struct fixture *f, unsigned off, unsigned size, uint32_t v)
{
    bus_write(&f->mmio, BOARD_PCI_ECAM_BASE + ((uint64_t)DEVFN << 12) + off, size, v);
}

/* GCMD as the spec asks software to write it: the status, one bit more. */
static void gcmd(struct fixture *f, uint32_t bit)
{
    wr(f, GCMD, 4, ((uint32_t)rd(f, GSTS, 4) & ~(SRTP | SIRTP)) | bit);
    assert_true(rd(f, GSTS, 4) & bit);
}

/* edu DMA of count bytes: to_ram from buffer offset off to iova, or back. */
static void dma(struct fixture *f, uint64_t iova, uint64_t off, uint64_t count, bool to_ram)
{
    uint64_t buf = EDU_DMA_BASE + off;

    bus_write(&f->mmio, BAR + EDU_REG_DMA_SRC, 8, to_ram ? buf : iova);
    bus_write(&f->mmio, BAR + EDU_REG_DMA_DST, 8, to_ram ? iova : buf);
    bus_write(&f->mmio, BAR + EDU_REG_DMA_COUNT, 8, count);
    bus_write(&f->mmio, BAR + EDU_REG_DMA_CMD, 4, EDU_DMA_RUN | (to_ram ? EDU_DMA_TO_RAM : 0));
    assert_int_equal(bus_read(&f->mmio, BAR + EDU_REG_DMA_CMD, 4) & EDU_DMA_RUN, 0);
}

static int setup(void **state)
{
    static struct fixture f;
    struct bus_range reset = {.base = 0xcf9, .len = 1, .widths = BUS_W1, .name = "reset"};

    memset(&f, 0, sizeof(f));
    bus_init(&f.pio, "pio");
    bus_init(&f.mmio, "mmio");
    if (mem_init(&f.mem, RAM) || pci_init(&f.pci, &f.pio, &f.mmio, &reset) ||
        vtd_init(&f.vtd, &f.mmio, &f.mem, &vtd_ops, &f) ||
        edu_init(&f.edu, &f.pci, SLOT, (uint32_t)BAR, &edu_ops, &f))
        return -1;
    cfg_write(&f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    /* Bus 0's root entry, the edu's context entry (AW 1: 3 levels, domain
     * 1), IOVA 0x5000 -> PAGE read-write, 0x200000 -> BIGPAGE (2 MiB)
     * read-only. */
    put64(&f, ROOT, CTX | 1);
    put64(&f, CTX + DEVFN * 16, PML3 | 1);
    put64(&f, CTX + DEVFN * 16 + 8, 1 | 1 << 8);
    put64(&f, PML3, PML2 | 3);
    put64(&f, PML2, PML1 | 3);
    put64(&f, PML2 + 8, BIGPAGE | 1 << 7 | 1);
    put64(&f, PML1 + 5 * 8, PAGE | 3);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    edu_destroy(&f->edu);
    vtd_destroy(&f->vtd);
    pci_destroy(&f->pci);
    mem_destroy(&f->mem);
    bus_destroy(&f->pio);
    bus_destroy(&f->mmio);
    return 0;
}

static void test_caps(void **state)
{
    struct fixture *f = *state;
    uint64_t cap = rd(f, CAP, 8), ecap = rd(f, ECAP, 8);

    assert_int_equal(rd(f, 0, 4), 0x10);
    assert_int_equal(cap >> 8 & 0x1f, 0x6); /* SAGAW: 39 and 48 bits */
    assert_int_equal(cap >> 34 & 3, 3);     /* SLLPS: 2 MiB, 1 GiB */
    assert_int_equal((cap >> 24 & 0x3ff) * 16, FRCD);
    assert_int_equal(ecap & 0xa, 0xa); /* QI, IR */
    assert_int_equal(ecap & 0x10, 0);  /* no EIM */
    assert_int_equal(cap >> 32, rd(f, CAP + 4, 4));
    assert_int_equal(rd(f, GSTS, 4), 0);
    assert_int_equal(rd(f, FSTS, 4), 0);
    assert_int_equal(bus_read(&f->mmio, BAR + EDU_REG_ID, 4), EDU_ID);
    bus_write(&f->mmio, BAR + EDU_REG_LIVENESS, 4, 0x1234);
    assert_int_equal(bus_read(&f->mmio, BAR + EDU_REG_LIVENESS, 4), ~0x1234u);
    bus_write(&f->mmio, BAR + EDU_REG_FACTORIAL, 4, 5);
    assert_int_equal(bus_read(&f->mmio, BAR + EDU_REG_FACTORIAL, 4), 120);
}

static void test_dma_remap(void **state)
{
    struct fixture *f = *state;
    uint32_t word = 0x12345678;

    wr(f, RTADDR, 8, ROOT);
    gcmd(f, SRTP);
    gcmd(f, TE);
    assert_int_equal(mem_write(&f->mem, PAGE, &word, 4), 0);
    dma(f, 0x5000, 0, 4, false);
    dma(f, 0x5004, 0, 4, true);
    assert_int_equal(get32(f, PAGE + 4), word);
    /* A read through the 2 MiB page; nothing went to IOVA 0x5000's gpa. */
    assert_int_equal(mem_write(&f->mem, BIGPAGE + 0x1234c, &word, 4), 0);
    dma(f, 0x21234c, 0x100, 4, false);
    dma(f, 0x5010, 0x100, 4, true);
    assert_int_equal(get32(f, PAGE + 0x10), word);
    assert_int_equal(rd(f, FSTS, 4), 0);
    assert_int_equal(get32(f, 0x5010), 0);
}

static void test_faults(void **state)
{
    struct fixture *f = *state;
    uint64_t hi;

    wr(f, FEDATA, 4, 0x50);
    wr(f, FEADDR, 4, 0xfee00000);
    wr(f, FECTL, 4, 0); /* unmasked: faults raise the event */
    wr(f, RTADDR, 8, ROOT);
    gcmd(f, SRTP);
    gcmd(f, TE);
    /* A write into the read-only 2 MiB page: nothing lands, a fault is
     * recorded (reason 5, a write, the edu's SID, the page). */
    dma(f, 0x200040, 0, 4, true);
    assert_int_equal(get32(f, BIGPAGE + 0x40), 0);
    assert_int_equal(rd(f, FSTS, 4) & 2, 2); /* PPF */
    hi = rd(f, FRCD + 8, 8);
    assert_true(hi >> 63);
    assert_int_equal(hi >> 62 & 1, 0); /* T: a write */
    assert_int_equal(hi >> 32 & 0xff, 5);
    assert_int_equal(hi & 0xffff, DEVFN);
    assert_int_equal(rd(f, FRCD, 8), 0x200000);
    assert_int_equal(f->events, 1);
    /* A second fault overflows the one recording register. */
    dma(f, 0x7000, 0, 4, false); /* not mapped */
    assert_int_equal(rd(f, FSTS, 4) & 3, 3);
    /* F is write-1-to-clear through the upper dword, as Linux does it. */
    wr(f, FRCD + 12, 4, 1u << 31);
    wr(f, FSTS, 4, 1);
    assert_int_equal(rd(f, FSTS, 4), 0);
    /* Hostile tables: a root table outside RAM, a huge count. */
    wr(f, RTADDR, 8, 0xfff0000000000ULL);
    gcmd(f, SRTP);
    dma(f, 0x5000, 0, 4, false);
    assert_int_equal(rd(f, FRCD + 8, 8) >> 32 & 0xff, 8);
    dma(f, 0x5000, 0, 1ULL << 40, false);
    dma(f, 0x5000, 0xfff, 2, false);
}

/* The edu's MSI in remappable format with handle idx. */
static void setup_msi(struct fixture *f, unsigned idx)
{
    uint64_t addr = 0xfee00000 | (idx & 0x7fff) << 5 | 1 << 4 | (idx >> 15) << 2;
    unsigned cap = f->edu.msi_cap;

    cfg_write(f, cap + MSI_ADDR_LO, 4, (uint32_t)addr);
    cfg_write(f, cap + MSI_ADDR_HI, 4, 0);
    cfg_write(f, cap + MSI_DATA, 2, 0);
    cfg_write(f, cap + MSI_CTRL, 2, MSI_CTRL_ENABLE);
}

static void raise_ack(struct fixture *f)
{
    bus_write(&f->mmio, BAR + EDU_REG_IRQ_RAISE, 4, 1);
    bus_write(&f->mmio, BAR + EDU_REG_IRQ_ACK, 4, 1);
}

static void test_interrupt_remap(void **state)
{
    struct fixture *f = *state;

    /* INTx first: the level follows the interrupt status. */
    bus_write(&f->mmio, BAR + EDU_REG_IRQ_RAISE, 4, 1);
    assert_int_equal(f->irq_level, 1);
    bus_write(&f->mmio, BAR + EDU_REG_IRQ_ACK, 4, 1);
    assert_int_equal(f->irq_level, 0);
    /* IRTE 3: vector 0x41 to APIC 2, fixed, edge; SVT 1 with the edu's
     * SID. A 256-entry table (S = 7). */
    put64(f, IRT + 3 * 16, 1 | 0x41ULL << 16 | 2ULL << 40);
    put64(f, IRT + 3 * 16 + 8, DEVFN | 1ULL << 18);
    put64(f, IRT + 4 * 16, 1 | 0x42ULL << 16);
    put64(f, IRT + 4 * 16 + 8, (DEVFN + 1) | 1ULL << 18);
    wr(f, IRTA, 8, IRT | 7);
    gcmd(f, SIRTP);
    gcmd(f, IRE);
    setup_msi(f, 3);
    raise_ack(f);
    assert_int_equal(f->msis, 1);
    assert_int_equal(f->msi_addr, 0xfee02000);
    assert_int_equal(f->msi_data, 0x41);
    /* Another function's IRTE: source-id verification blocks it. */
    setup_msi(f, 4);
    raise_ack(f);
    assert_int_equal(f->msis, 1);
    assert_int_equal(rd(f, FRCD + 8, 8) >> 32 & 0xff, 0x26);
    assert_int_equal(rd(f, FRCD, 8) >> 48, 4);
    wr(f, FRCD + 12, 4, 1u << 31);
    /* Past the table's 256 entries; a not-present entry. */
    setup_msi(f, 300);
    raise_ack(f);
    assert_int_equal(rd(f, FRCD + 8, 8) >> 32 & 0xff, 0x21);
    wr(f, FRCD + 12, 4, 1u << 31);
    setup_msi(f, 5);
    raise_ack(f);
    assert_int_equal(rd(f, FRCD + 8, 8) >> 32 & 0xff, 0x22);
    wr(f, FRCD + 12, 4, 1u << 31);
    /* A compatibility-format MSI is blocked until CFI is set. */
    cfg_write(f, f->edu.msi_cap + MSI_ADDR_LO, 4, 0xfee01000);
    raise_ack(f);
    assert_int_equal(f->msis, 1);
    assert_int_equal(rd(f, FRCD + 8, 8) >> 32 & 0xff, 0x25);
    gcmd(f, 1u << 23);
    raise_ack(f);
    assert_int_equal(f->msis, 2);
    assert_int_equal(f->msi_addr, 0xfee01000);
}

static void test_queue(void **state)
{
    struct fixture *f = *state;

    wr(f, IQA, 8, IQ); /* one page: 256 descriptors */
    wr(f, IQT, 4, 0);
    gcmd(f, QIE);
    /* Context-cache, IOTLB, IEC invalidations, then a wait that writes
     * 0xabcd to STATUS and raises the invalidation event. */
    put64(f, IQ, 1 | 1 << 4);
    put64(f, IQ + 16, 2 | 1 << 4);
    put64(f, IQ + 32, 4);
    put64(f, IQ + 48, 5 | 1 << 5 | 1 << 4 | 0xabcdULL << 32);
    put64(f, IQ + 56, STATUS);
    wr(f, IQT, 4, 4 << 4);
    assert_int_equal(rd(f, IQH, 8), 4 << 4);
    assert_int_equal(get32(f, STATUS), 0xabcd);
    assert_int_equal(rd(f, ICS, 4), 1);
    /* An unknown descriptor: IQE, and the head stays on it. */
    put64(f, IQ + 64, 0xf);
    wr(f, IQT, 4, 5 << 4);
    assert_int_equal(rd(f, IQH, 8), 4 << 4);
    assert_int_equal(rd(f, FSTS, 4) & 0x10, 0x10);
    /* A tail past the queue, with IQE cleared: IQE again. */
    wr(f, FSTS, 4, 0x10);
    wr(f, IQT, 8, 300 << 4);
    assert_int_equal(rd(f, FSTS, 4) & 0x10, 0x10);
}

/* A small xorshift, so that a failure repeats. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A guest address: mostly inside RAM and near the tables, sometimes
 * anywhere. */
static uint64_t rnd_addr(uint64_t *s)
{
    uint64_t r = rnd(s);

    return r & 1 ? (r >> 8) % RAM : r & 2 ? ROOT + (r >> 8) % 0x30000 : r;
}

/* Hostile guest: random tables, registers and requests. Nothing may
 * touch memory outside guest RAM (the ASan build checks) or hang. */
static void test_hostile(void **state)
{
    static const unsigned regs[] = {GCMD, RTADDR, 0x28, FSTS, FECTL, FEDATA,   FEADDR,
                                    IQT,  IQA,    ICS,  IRTA, 0x208, FRCD + 8, FRCD + 12};
    struct fixture *f = *state;
    uint64_t s = 0x9e3779b97f4a7c15ULL;

    for (int i = 0; i < 20000; i++) {
        uint64_t r = rnd(&s), addr = rnd_addr(&s), data;
        uint32_t d32;

        switch (r % 6) {
        case 0: /* table contents */
            put64(f, rnd_addr(&s) % (RAM - 8), rnd(&s));
            break;
        case 1: /* a register */
            if (r & 0x100)
                wr(f, regs[(r >> 9) % 14] & ~4u, 8, r & 0x200 ? addr : rnd(&s));
            else
                wr(f, regs[(r >> 9) % 14], 4, (uint32_t)rnd(&s));
            break;
        case 2: /* a DMA */
            dma(f, addr, (r >> 8) % EDU_DMA_SIZE, (r >> 20) % (EDU_DMA_SIZE + 2), r & 0x100);
            break;
        case 3: /* an MSI, from the edu or from nobody in particular */
            data = rnd(&s);
            addr = 0xfee00000 | (r >> 8 & 0xfffff);
            d32 = (uint32_t)data;
            vtd_msi_remap(&f->vtd, r & 0x100 ? DEVFN : VTD_SID_NONE, &addr, &d32);
            break;
        case 4: /* enable everything, with tables somewhere */
            wr(f, RTADDR, 8, rnd_addr(&s));
            wr(f, IRTA, 8, rnd_addr(&s) | (r >> 8 & 15));
            wr(f, IQA, 8, rnd_addr(&s) | (r >> 12 & 7));
            wr(f, GCMD, 4, TE | SRTP | QIE | IRE | SIRTP);
            break;
        case 5: /* read every register back */
            for (unsigned off = 0; off < VTD_SIZE; off += 4)
                (void)rd(f, off, 4);
            break;
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dma_remap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_remap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
