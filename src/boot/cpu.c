/* Register states and tables for entering a guest in each CPU mode. */
#include <string.h>

#include "boot/boot.h"
#include "boot/layout.h"

#define CR0_PE       (1ULL << 0)
#define CR0_ET       (1ULL << 4)
#define CR0_NE       (1ULL << 5)
#define CR0_PG       (1ULL << 31)
#define CR4_PAE      (1ULL << 5)
#define EFER_LME     (1ULL << 8)
#define EFER_LMA     (1ULL << 10)
#define RFLAGS_FIXED 0x2ULL

#define PTE_P  (1ULL << 0)
#define PTE_RW (1ULL << 1)
#define PTE_PS (1ULL << 7)

/* Descriptor types (SDM Vol. 3A, Table 3-1 and 3-2). */
#define TYPE_CODE_RX_ACCESSED 0xb
#define TYPE_DATA_RW_ACCESSED 0x3
#define TYPE_TSS64_BUSY       0xb

static const uint64_t boot_gdt[] = {
    [0] = 0,
    [SEL_CODE64 / 8] = 0x00af9b000000ffffULL,
    [SEL_DATA / 8] = 0x00cf93000000ffffULL,
    [SEL_CODE32 / 8] = 0x00cf9b000000ffffULL,
    /* 64-bit TSS descriptor (16 bytes) for BOOT_TSS, limit 0x67 */
    [SEL_TSS / 8] = 0x00008b0000000067ULL | ((BOOT_TSS & 0xffffff) << 16),
    [SEL_TSS / 8 + 1] = 0,
};

/* The same size as boot_gdt, with the same TSS descriptor. */
static const uint64_t linux_gdt[] = {
    [0] = 0,
    [1] = 0,
    [LINUX_BOOT_CS / 8] = 0x00af9b000000ffffULL,
    [LINUX_BOOT_DS / 8] = 0x00cf93000000ffffULL,
    [SEL_TSS / 8] = 0x00008b0000000067ULL | ((BOOT_TSS & 0xffffff) << 16),
    [SEL_TSS / 8 + 1] = 0,
};
_Static_assert(sizeof(linux_gdt) == sizeof(boot_gdt), "the GDT limit is shared");

int boot_write_gdt(const struct guest_mem *mem)
{
    return mem_write(mem, BOOT_GDT, boot_gdt, sizeof(boot_gdt));
}

static struct cpu_segment flat(uint16_t sel, uint8_t type, uint8_t l, uint8_t db)
{
    return (struct cpu_segment){.selector = sel,
                                .base = 0,
                                .limit = 0xffffffff,
                                .type = type,
                                .s = 1,
                                .present = 1,
                                .g = 1,
                                .l = l,
                                .db = db};
}

static void common(struct cpu_state *s)
{
    s->rflags = RFLAGS_FIXED;
    s->tr = (struct cpu_segment){.selector = SEL_TSS,
                                 .base = BOOT_TSS,
                                 .limit = 0x67,
                                 .type = TYPE_TSS64_BUSY,
                                 .present = 1};
    s->ldt = (struct cpu_segment){.type = 2, .present = 1, .unusable = 1};
    s->gdt = (struct cpu_dtable){.base = BOOT_GDT, .limit = sizeof(boot_gdt) - 1};
    s->idt = (struct cpu_dtable){.base = 0, .limit = 0};
}

void cpu_state_real(struct cpu_state *s, uint16_t segment, uint16_t ip, uint16_t sp)
{
    struct cpu_segment seg = {.selector = segment,
                              .base = (uint64_t)segment << 4,
                              .limit = 0xffff,
                              .type = TYPE_DATA_RW_ACCESSED,
                              .s = 1,
                              .present = 1};

    memset(s, 0, sizeof(*s));
    common(s);
    s->idt.limit = 0x3ff; /* the real-mode IVT at 0 */
    s->cs = seg;
    s->cs.type = TYPE_CODE_RX_ACCESSED;
    s->ds = s->es = s->fs = s->gs = s->ss = seg;
    s->rip = ip;
    s->rsp = sp;
    s->cr0 = CR0_ET;
}

void cpu_state_protected32(struct cpu_state *s, uint32_t entry)
{
    memset(s, 0, sizeof(*s));
    common(s);
    s->cs = flat(SEL_CODE32, TYPE_CODE_RX_ACCESSED, 0, 1);
    s->ds = s->es = s->fs = s->gs = s->ss = flat(SEL_DATA, TYPE_DATA_RW_ACCESSED, 0, 1);
    s->rip = entry;
    s->cr0 = CR0_PE | CR0_ET;
}

int cpu_state_long64(const struct guest_mem *mem, struct cpu_state *s, uint64_t entry)
{
    uint64_t pml4 = BOOT_PDPT | PTE_P | PTE_RW;
    uint64_t pdpt[4], pd[2048];
    int err;

    for (int i = 0; i < 4; i++)
        pdpt[i] = (BOOT_PD + (uint64_t)i * 4096) | PTE_P | PTE_RW;
    for (int i = 0; i < 2048; i++)
        pd[i] = ((uint64_t)i << 21) | PTE_P | PTE_RW | PTE_PS;
    err = mem_write(mem, BOOT_PML4, &pml4, sizeof(pml4));
    if (!err)
        err = mem_write(mem, BOOT_PDPT, pdpt, sizeof(pdpt));
    if (!err)
        err = mem_write(mem, BOOT_PD, pd, sizeof(pd));
    if (!err)
        err = boot_write_gdt(mem);
    if (err)
        return err;
    memset(s, 0, sizeof(*s));
    common(s);
    s->cs = flat(SEL_CODE64, TYPE_CODE_RX_ACCESSED, 1, 0);
    s->ds = s->es = s->fs = s->gs = s->ss = flat(SEL_DATA, TYPE_DATA_RW_ACCESSED, 0, 1);
    s->rip = entry;
    s->cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
    s->cr3 = BOOT_PML4;
    s->cr4 = CR4_PAE;
    s->efer = EFER_LME | EFER_LMA;
    return 0;
}

int cpu_state_linux64(const struct guest_mem *mem, struct cpu_state *s, uint64_t entry)
{
    int err = cpu_state_long64(mem, s, entry);

    if (!err)
        err = mem_write(mem, BOOT_GDT, linux_gdt, sizeof(linux_gdt));
    if (err)
        return err;
    s->cs.selector = LINUX_BOOT_CS;
    s->ds.selector = s->es.selector = s->fs.selector = s->gs.selector = s->ss.selector =
        LINUX_BOOT_DS;
    return 0;
}
