/*
 * Segmentation: offset-to-linear translation with the limit, rights and
 * canonical checks (SDM Vol. 3A §5.3-5.4, §3.3.7.1), the stack, and segment
 * register loads from descriptors (§3.4, §5.5).
 */
#include "accel/emu/cpu/cpu.h"

#define DESC_TYPE_CODE     0x8
#define DESC_TYPE_EXPDOWN  0x4 /* data */
#define DESC_TYPE_CONFORM  0x4 /* code */
#define DESC_TYPE_WRITABLE 0x2 /* data */
#define DESC_TYPE_READABLE 0x2 /* code */
#define DESC_TYPE_ACCESSED 0x1

static __attribute__((noreturn)) void seg_fault(struct emu_cpu *cpu, int seg)
{
    emu_raise(cpu, seg == SEG_SS ? EXC_SS : EXC_GP, 0);
}

uint64_t emu_linear(struct emu_cpu *cpu, int seg, uint64_t offset, unsigned size, bool write)
{
    const struct cpu_segment *s = &cpu->seg[seg];
    uint64_t last;

    if (cpu->code_bits == 64) {
        uint64_t lin = (seg == SEG_FS || seg == SEG_GS ? s->base : 0) + offset;

        if (!emu_canonical(lin) || !emu_canonical(lin + size - 1))
            seg_fault(cpu, seg);
        return lin;
    }
    if ((cpu->cr0 & CR0_PE) && !(cpu->rflags & RFLAGS_VM)) {
        if (s->unusable || !s->present)
            seg_fault(cpu, seg);
        if (s->s == 0)
            seg_fault(cpu, seg);
        if (write && ((s->type & DESC_TYPE_CODE) || !(s->type & DESC_TYPE_WRITABLE)))
            seg_fault(cpu, seg);
        if (!write && (s->type & DESC_TYPE_CODE) && !(s->type & DESC_TYPE_READABLE))
            seg_fault(cpu, seg);
    }
    last = offset + size - 1;
    if (!(s->type & DESC_TYPE_CODE) && (s->type & DESC_TYPE_EXPDOWN)) {
        uint64_t top = s->db ? 0xffffffffULL : 0xffffULL;

        if (offset <= s->limit || last > top)
            seg_fault(cpu, seg);
    } else if (last > s->limit || last < offset) {
        seg_fault(cpu, seg);
    }
    return (s->base + offset) & 0xffffffffULL;
}

uint64_t emu_read(struct emu_cpu *cpu, int seg, uint64_t offset, unsigned size)
{
    uint64_t lin = emu_linear(cpu, seg, offset, size, false);

    if (cpu->bp_data)
        emu_debug_watch(cpu, lin, size, false);
    return emu_read_lin(cpu, lin, size, ACC_READ, cpu->cpl);
}

void emu_write(struct emu_cpu *cpu, int seg, uint64_t offset, uint64_t value, unsigned size)
{
    uint64_t lin = emu_linear(cpu, seg, offset, size, true);

    if (cpu->bp_data)
        emu_debug_watch(cpu, lin, size, true);
    emu_write_lin(cpu, lin, value, size, cpu->cpl);
}

static unsigned stack_bits(const struct emu_cpu *cpu)
{
    if (cpu->code_bits == 64)
        return 64;
    return cpu->seg[SEG_SS].db ? 32 : 16;
}

static void set_sp(struct emu_cpu *cpu, uint64_t sp)
{
    switch (stack_bits(cpu)) {
    case 64:
        cpu->gpr[GPR_RSP] = sp;
        break;
    case 32:
        cpu->gpr[GPR_RSP] = sp & 0xffffffff;
        break;
    default:
        cpu->gpr[GPR_RSP] = (cpu->gpr[GPR_RSP] & ~0xffffULL) | (sp & 0xffff);
        break;
    }
}

void emu_push(struct emu_cpu *cpu, uint64_t value, unsigned size)
{
    uint64_t mask = emu_mask(stack_bits(cpu) / 8);
    uint64_t sp = (cpu->gpr[GPR_RSP] - size) & mask;

    emu_write(cpu, SEG_SS, sp, value, size);
    set_sp(cpu, sp);
}

uint64_t emu_stack_top(struct emu_cpu *cpu, unsigned size)
{
    return emu_read(cpu, SEG_SS, cpu->gpr[GPR_RSP] & emu_mask(stack_bits(cpu) / 8), size);
}

void emu_stack_drop(struct emu_cpu *cpu, uint64_t bytes)
{
    set_sp(cpu, (cpu->gpr[GPR_RSP] & emu_mask(stack_bits(cpu) / 8)) + bytes);
}

uint64_t emu_pop(struct emu_cpu *cpu, unsigned size)
{
    uint64_t v = emu_stack_top(cpu, size);

    emu_stack_drop(cpu, size);
    return v;
}

uint64_t emu_read_descriptor(struct emu_cpu *cpu, uint16_t selector, int vector)
{
    uint64_t base, limit, index = selector & ~7u;

    if (selector & 4) {
        if (cpu->ldt.unusable || !cpu->ldt.present)
            emu_raise(cpu, vector, selector & 0xfffc);
        base = cpu->ldt.base, limit = cpu->ldt.limit;
    } else {
        base = cpu->gdt.base, limit = cpu->gdt.limit;
    }
    if (index + 7 > limit)
        emu_raise(cpu, vector, selector & 0xfffc);
    /* Descriptor tables are read with supervisor rights whatever the CPL. */
    return emu_read_lin(cpu, base + index, 8, ACC_READ, 0);
}

/* Sets the accessed bit of a descriptor in memory, as the CPU does on load. */
static void mark_accessed(struct emu_cpu *cpu, uint16_t selector, uint64_t desc)
{
    uint64_t base = selector & 4 ? cpu->ldt.base : cpu->gdt.base;

    if (!(desc & (1ULL << 40)))
        emu_write_lin(cpu, base + (selector & ~7u) + 5, (uint8_t)(desc >> 40) | 1, 1, 0);
}

void emu_seg_from_descriptor(struct cpu_segment *s, uint16_t selector, uint64_t d)
{
    uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));

    s->selector = selector;
    s->base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
    s->g = (d >> 55) & 1;
    s->limit = s->g ? (limit << 12) | 0xfff : limit;
    s->type = (d >> 40) & 0xf;
    s->s = (d >> 44) & 1;
    s->dpl = (d >> 45) & 3;
    s->present = (d >> 47) & 1;
    s->avl = (d >> 52) & 1;
    s->l = (d >> 53) & 1;
    s->db = (d >> 54) & 1;
    s->unusable = 0;
}

static void load_real(struct emu_cpu *cpu, int seg, uint16_t selector)
{
    struct cpu_segment *s = &cpu->seg[seg];

    s->selector = selector;
    s->base = (uint64_t)selector << 4;
    if (cpu->rflags & RFLAGS_VM) {
        /* Virtual-8086 mode: every load gives a 64 KiB DPL-3 data segment. */
        *s = (struct cpu_segment){.selector = selector,
                                  .base = (uint64_t)selector << 4,
                                  .limit = 0xffff,
                                  .type = 3,
                                  .s = 1,
                                  .dpl = 3,
                                  .present = 1};
        if (seg == SEG_CS)
            s->type = 0xb;
    }
}

void emu_load_seg(struct emu_cpu *cpu, int seg, uint16_t selector)
{
    struct cpu_segment n;
    uint64_t d;
    unsigned rpl = selector & 3;

    if (!(cpu->cr0 & CR0_PE) || (cpu->rflags & RFLAGS_VM)) {
        load_real(cpu, seg, selector);
        return;
    }
    if ((selector & 0xfffc) == 0) {
        if (seg == SEG_SS && !(cpu->code_bits == 64 && cpu->cpl != 3 && rpl == (unsigned)cpu->cpl))
            emu_raise(cpu, EXC_GP, 0);
        cpu->seg[seg] = (struct cpu_segment){.selector = selector, .unusable = 1};
        if (seg == SEG_SS)
            cpu->seg[seg].dpl = (uint8_t)cpu->cpl;
        return;
    }
    d = emu_read_descriptor(cpu, selector, EXC_GP);
    emu_seg_from_descriptor(&n, selector, d);
    if (!n.s)
        emu_raise(cpu, EXC_GP, selector & 0xfffc);
    if (seg == SEG_SS) {
        if (rpl != (unsigned)cpu->cpl || n.dpl != cpu->cpl || (n.type & DESC_TYPE_CODE) ||
            !(n.type & DESC_TYPE_WRITABLE))
            emu_raise(cpu, EXC_GP, selector & 0xfffc);
        if (!n.present)
            emu_raise(cpu, EXC_SS, selector & 0xfffc);
    } else {
        bool code = n.type & DESC_TYPE_CODE;

        if (code && !(n.type & DESC_TYPE_READABLE))
            emu_raise(cpu, EXC_GP, selector & 0xfffc);
        if ((!code || !(n.type & DESC_TYPE_CONFORM)) && (n.dpl < cpu->cpl || n.dpl < rpl))
            emu_raise(cpu, EXC_GP, selector & 0xfffc);
        if (!n.present)
            emu_raise(cpu, EXC_NP, selector & 0xfffc);
    }
    mark_accessed(cpu, selector, d);
    n.type |= DESC_TYPE_ACCESSED;
    cpu->seg[seg] = n;
}
