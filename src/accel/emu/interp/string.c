/*
 * String instructions with REP/REPE/REPNE (SDM Vol. 2B "REP"). RCX, RSI and
 * RDI are updated after each element, so a fault leaves them pointing at
 * the faulting element and the instruction restarts there. A long REP run
 * is cut into slices: RIP stays on the instruction until the count is done,
 * so interrupts are taken between slices as hardware takes them between
 * iterations. Forward REP MOVS and REP STOS over RAM move whole runs
 * within a page at once (bulk()), as fast-string hardware does.
 */
#include <string.h>

#include "accel/emu/interp/interp.h"
#include "vm/vm.h"

#define SLICE      4096
#define BULK_PAGES 16 /* runs per instruction slice */

static uint64_t get_index(const struct emu_cpu *cpu, int reg, unsigned aw)
{
    return cpu->gpr[reg] & emu_mask(aw);
}

static void set_index(struct emu_cpu *cpu, int reg, unsigned aw, uint64_t v)
{
    if (aw == 8)
        cpu->gpr[reg] = v;
    else if (aw == 4)
        cpu->gpr[reg] = v & 0xffffffff;
    else
        cpu->gpr[reg] = (cpu->gpr[reg] & ~0xffffULL) | (v & 0xffff);
}

/* The source segment of MOVS/LODS/CMPS/OUTS: DS unless overridden. */
static int src_seg(struct emu_cpu *cpu)
{
    for (int i = 0; i < cpu->decoded->insn.operand_count; i++)
        if (cpu->decoded->ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY &&
            (cpu->decoded->ops[i].mem.base == ZYDIS_REGISTER_RSI ||
             cpu->decoded->ops[i].mem.base == ZYDIS_REGISTER_ESI ||
             cpu->decoded->ops[i].mem.base == ZYDIS_REGISTER_SI))
            return emu_op_seg(cpu, i);
    return SEG_DS;
}

static uint64_t compare(struct emu_cpu *cpu, uint64_t a, uint64_t b, unsigned size)
{
    uint64_t f = (cpu->rflags & RFLAGS_STATUS) | RFLAGS_FIXED;

    switch (size) {
    case 1: {
        uint8_t x = (uint8_t)a;
        __asm__("push %[f]\n\tpopfq\n\tcmpb %[b], %[x]\n\tpushfq\n\tpop %[f]"
                : [x] "+q"(x), [f] "+r"(f)
                : [b] "q"((uint8_t)b)
                : "cc");
        break;
    }
    case 2: {
        uint16_t x = (uint16_t)a;
        __asm__("push %[f]\n\tpopfq\n\tcmpw %[b], %[x]\n\tpushfq\n\tpop %[f]"
                : [x] "+r"(x), [f] "+r"(f)
                : [b] "r"((uint16_t)b)
                : "cc");
        break;
    }
    case 4: {
        uint32_t x = (uint32_t)a;
        __asm__("push %[f]\n\tpopfq\n\tcmpl %[b], %[x]\n\tpushfq\n\tpop %[f]"
                : [x] "+r"(x), [f] "+r"(f)
                : [b] "r"((uint32_t)b)
                : "cc");
        break;
    }
    default:
        __asm__("push %[f]\n\tpopfq\n\tcmpq %[b], %[x]\n\tpushfq\n\tpop %[f]"
                : [x] "+r"(a), [f] "+r"(f)
                : [b] "r"(b)
                : "cc");
        break;
    }
    return f;
}

static uint64_t seg_linear(const struct emu_cpu *cpu, int seg, uint64_t off)
{
    if (cpu->code_bits == 64)
        return off + (seg == SEG_FS || seg == SEG_GS ? cpu->seg[seg].base : 0);
    return (cpu->seg[seg].base + off) & 0xffffffff;
}

/* Elements of size bytes from offset off (linear lin) before a page end,
 * or before the index register wraps at aw bytes. */
static uint64_t run_length(uint64_t off, uint64_t lin, unsigned size, unsigned aw)
{
    uint64_t n = (4096 - (lin & 0xfff)) / size;

    if (aw < 8 && (emu_mask(aw) - off + 1) / size < n)
        n = (emu_mask(aw) - off + 1) / size;
    return n;
}

/*
 * REP MOVS or REP STOS with DF clear, a run at a time: the run's source
 * and destination each lie in one page of RAM and are translated (source
 * first, as the first element's read comes before its write) before any
 * byte moves, so a fault leaves RCX/RSI/RDI at the run's start, a correct
 * restart point. Returns false, having done nothing more, where a run is not
 * possible: MMIO, an element across a page, or a destination that starts
 * inside the source (element order would replicate bytes there). With a
 * pass_limit, one run of at most EMU_LIMITED_PASS elements, as the element
 * loop's slice: a harness's budget bounds the work, not just the steps.
 */
static bool bulk(struct emu_cpu *cpu, bool movs, unsigned size, unsigned aw, int seg)
{
    for (int i = 0; i < (cpu->pass_limit ? 1 : BULK_PAGES); i++) {
        uint64_t count = get_index(cpu, GPR_RCX, aw), si = get_index(cpu, GPR_RSI, aw);
        uint64_t di = get_index(cpu, GPR_RDI, aw), n, bytes;
        uint8_t *src = NULL, *dst;

        if (count == 0 || cpu->vm->stopping)
            return true;
        n = run_length(di, seg_linear(cpu, SEG_ES, di), size, aw);
        if (movs && run_length(si, seg_linear(cpu, seg, si), size, aw) < n)
            n = run_length(si, seg_linear(cpu, seg, si), size, aw);
        if (n > count)
            n = count;
        if (cpu->pass_limit && n > EMU_LIMITED_PASS)
            n = EMU_LIMITED_PASS;
        if (n == 0)
            return i > 0;
        bytes = n * size;
        if (movs && !(src = emu_host_range(cpu, seg, si, (unsigned)bytes, false)))
            return i > 0;
        dst = emu_host_range(cpu, SEG_ES, di, (unsigned)bytes, true);
        if (!dst || (movs && dst > src && dst < src + bytes))
            return i > 0;
        if (movs) {
            memmove(dst, src, bytes);
            set_index(cpu, GPR_RSI, aw, si + bytes);
        } else if (size == 1) {
            memset(dst, (int)(cpu->gpr[0] & 0xff), bytes);
        } else {
            for (uint64_t k = 0; k < bytes; k += size)
                memcpy(dst + k, &cpu->gpr[0], size);
        }
        set_index(cpu, GPR_RDI, aw, di + bytes);
        set_index(cpu, GPR_RCX, aw, count - n);
    }
    return true;
}

/*
 * A REP run with a zero count moves nothing, but with a 32-bit address size
 * in 64-bit mode Intel's CPUs (measured: the difftest against the host)
 * still write ECX back, and MOVS also ESI and EDI, STOS also EDI,
 * zero-extending them; AMD's leave all three alone. vx86's CPU says it is
 * GenuineIntel, so it does what Intel's do.
 */
static void count_zero(struct emu_cpu *cpu, ZydisMnemonic m, unsigned aw)
{
    bool movs = m == ZYDIS_MNEMONIC_MOVSB || m == ZYDIS_MNEMONIC_MOVSW ||
                m == ZYDIS_MNEMONIC_MOVSD || m == ZYDIS_MNEMONIC_MOVSQ;
    bool stos = m == ZYDIS_MNEMONIC_STOSB || m == ZYDIS_MNEMONIC_STOSW ||
                m == ZYDIS_MNEMONIC_STOSD || m == ZYDIS_MNEMONIC_STOSQ;

    if (aw != 4 || m == ZYDIS_MNEMONIC_INSB || m == ZYDIS_MNEMONIC_INSW ||
        m == ZYDIS_MNEMONIC_INSD || m == ZYDIS_MNEMONIC_OUTSB || m == ZYDIS_MNEMONIC_OUTSW ||
        m == ZYDIS_MNEMONIC_OUTSD)
        return; /* not measured: they need I/O privilege */
    cpu->gpr[GPR_RCX] &= 0xffffffff;
    if (movs)
        cpu->gpr[GPR_RSI] &= 0xffffffff;
    if (movs || stos)
        cpu->gpr[GPR_RDI] &= 0xffffffff;
}

/* Not finished: the instruction runs again after pending events. An event
 * taken between iterations pushes RF set, so that the instruction's
 * breakpoint does not fire again when it resumes (SDM Vol. 3B §17.3.1.1). */
static void unfinished(struct emu_cpu *cpu)
{
    cpu->rip = cpu->insn_rip;
    cpu->rflags |= RFLAGS_RF;
}

bool emu_exec_string(struct emu_cpu *cpu)
{
    ZydisMnemonic m = cpu->decoded->insn.mnemonic;
    unsigned size = cpu->decoded->insn.operand_width / 8, aw = cpu->decoded->insn.address_width / 8;
    bool rep = cpu->decoded->insn.attributes &
               (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE | ZYDIS_ATTRIB_HAS_REPNE);
    bool repe = cpu->decoded->insn.attributes & ZYDIS_ATTRIB_HAS_REPE;
    bool repne = cpu->decoded->insn.attributes & ZYDIS_ATTRIB_HAS_REPNE;
    uint64_t delta = (cpu->rflags & RFLAGS_DF) ? -(uint64_t)size : size;
    uint16_t port = (uint16_t)cpu->gpr[GPR_RDX];
    bool step;
    int seg;

    switch (m) {
    case ZYDIS_MNEMONIC_MOVSB:
    case ZYDIS_MNEMONIC_MOVSW:
    case ZYDIS_MNEMONIC_MOVSD:
    case ZYDIS_MNEMONIC_MOVSQ:
    case ZYDIS_MNEMONIC_STOSB:
    case ZYDIS_MNEMONIC_STOSW:
    case ZYDIS_MNEMONIC_STOSD:
    case ZYDIS_MNEMONIC_STOSQ:
    case ZYDIS_MNEMONIC_LODSB:
    case ZYDIS_MNEMONIC_LODSW:
    case ZYDIS_MNEMONIC_LODSD:
    case ZYDIS_MNEMONIC_LODSQ:
    case ZYDIS_MNEMONIC_CMPSB:
    case ZYDIS_MNEMONIC_CMPSW:
    case ZYDIS_MNEMONIC_CMPSD:
    case ZYDIS_MNEMONIC_CMPSQ:
    case ZYDIS_MNEMONIC_SCASB:
    case ZYDIS_MNEMONIC_SCASW:
    case ZYDIS_MNEMONIC_SCASD:
    case ZYDIS_MNEMONIC_SCASQ:
        break;
    case ZYDIS_MNEMONIC_INSB:
    case ZYDIS_MNEMONIC_INSW:
    case ZYDIS_MNEMONIC_INSD:
    case ZYDIS_MNEMONIC_OUTSB:
    case ZYDIS_MNEMONIC_OUTSW:
    case ZYDIS_MNEMONIC_OUTSD:
        emu_check_io(cpu, port, size);
        break;
    default:
        return false;
    }
    /* MOVSD/CMPSD also name SSE2 instructions (0F 10/11, 0F C2), whose
     * first operand may be memory too (MOVSD m64, xmm). */
    if ((m == ZYDIS_MNEMONIC_MOVSD || m == ZYDIS_MNEMONIC_CMPSD) &&
        cpu->decoded->insn.opcode_map != ZYDIS_OPCODE_MAP_DEFAULT)
        return false;
    seg = src_seg(cpu);
    if (rep && get_index(cpu, GPR_RCX, aw) == 0) {
        count_zero(cpu, m, aw);
        return true;
    }
    /* Single-step and data breakpoints trap between iterations (SDM Vol. 3B
     * §17.3.1.4): one element per execution then. */
    step = (cpu->rflags & RFLAGS_TF) || cpu->bp_data;
    if (rep && !step && !(cpu->rflags & RFLAGS_DF) && aw >= 4 &&
        (m == ZYDIS_MNEMONIC_MOVSB || m == ZYDIS_MNEMONIC_MOVSW || m == ZYDIS_MNEMONIC_MOVSD ||
         m == ZYDIS_MNEMONIC_MOVSQ || m == ZYDIS_MNEMONIC_STOSB || m == ZYDIS_MNEMONIC_STOSW ||
         m == ZYDIS_MNEMONIC_STOSD || m == ZYDIS_MNEMONIC_STOSQ) &&
        bulk(cpu,
             m == ZYDIS_MNEMONIC_MOVSB || m == ZYDIS_MNEMONIC_MOVSW || m == ZYDIS_MNEMONIC_MOVSD ||
                 m == ZYDIS_MNEMONIC_MOVSQ,
             size, aw, seg)) {
        if (get_index(cpu, GPR_RCX, aw) != 0)
            unfinished(cpu);
        return true;
    }
    for (unsigned n = 0, slice = step ? 1 : cpu->pass_limit ? EMU_LIMITED_PASS : SLICE;
         !rep || n < slice; n++) {
        uint64_t si = get_index(cpu, GPR_RSI, aw), di = get_index(cpu, GPR_RDI, aw), v, f;

        if (rep && get_index(cpu, GPR_RCX, aw) == 0)
            return true;
        switch (m) {
        case ZYDIS_MNEMONIC_MOVSB:
        case ZYDIS_MNEMONIC_MOVSW:
        case ZYDIS_MNEMONIC_MOVSD:
        case ZYDIS_MNEMONIC_MOVSQ:
            emu_write(cpu, SEG_ES, di, emu_read(cpu, seg, si, size), size);
            set_index(cpu, GPR_RSI, aw, si + delta);
            set_index(cpu, GPR_RDI, aw, di + delta);
            break;
        case ZYDIS_MNEMONIC_STOSB:
        case ZYDIS_MNEMONIC_STOSW:
        case ZYDIS_MNEMONIC_STOSD:
        case ZYDIS_MNEMONIC_STOSQ:
            emu_write(cpu, SEG_ES, di, cpu->gpr[0] & emu_mask(size), size);
            set_index(cpu, GPR_RDI, aw, di + delta);
            break;
        case ZYDIS_MNEMONIC_LODSB:
        case ZYDIS_MNEMONIC_LODSW:
        case ZYDIS_MNEMONIC_LODSD:
        case ZYDIS_MNEMONIC_LODSQ:
            v = emu_read(cpu, seg, si, size);
            emu_reg_write(cpu,
                          size == 1   ? ZYDIS_REGISTER_AL
                          : size == 2 ? ZYDIS_REGISTER_AX
                          : size == 4 ? ZYDIS_REGISTER_EAX
                                      : ZYDIS_REGISTER_RAX,
                          v);
            set_index(cpu, GPR_RSI, aw, si + delta);
            break;
        case ZYDIS_MNEMONIC_CMPSB:
        case ZYDIS_MNEMONIC_CMPSW:
        case ZYDIS_MNEMONIC_CMPSD:
        case ZYDIS_MNEMONIC_CMPSQ:
            f = compare(cpu, emu_read(cpu, seg, si, size), emu_read(cpu, SEG_ES, di, size), size);
            cpu->rflags = (cpu->rflags & ~RFLAGS_STATUS) | (f & RFLAGS_STATUS);
            set_index(cpu, GPR_RSI, aw, si + delta);
            set_index(cpu, GPR_RDI, aw, di + delta);
            break;
        case ZYDIS_MNEMONIC_SCASB:
        case ZYDIS_MNEMONIC_SCASW:
        case ZYDIS_MNEMONIC_SCASD:
        case ZYDIS_MNEMONIC_SCASQ:
            f = compare(cpu, cpu->gpr[0] & emu_mask(size), emu_read(cpu, SEG_ES, di, size), size);
            cpu->rflags = (cpu->rflags & ~RFLAGS_STATUS) | (f & RFLAGS_STATUS);
            set_index(cpu, GPR_RDI, aw, di + delta);
            break;
        case ZYDIS_MNEMONIC_INSB:
        case ZYDIS_MNEMONIC_INSW:
        case ZYDIS_MNEMONIC_INSD:
            /* The destination is probed first: a fault must not lose port data. */
            emu_linear(cpu, SEG_ES, di, size, true);
            cpu->stats.pio++;
            emu_write(cpu, SEG_ES, di, bus_read(&cpu->vm->pio, port, size), size);
            set_index(cpu, GPR_RDI, aw, di + delta);
            break;
        default: /* OUTS */
            cpu->stats.pio++;
            bus_write(&cpu->vm->pio, port, size, emu_read(cpu, seg, si, size));
            set_index(cpu, GPR_RSI, aw, si + delta);
            break;
        }
        if (!rep)
            return true;
        set_index(cpu, GPR_RCX, aw, get_index(cpu, GPR_RCX, aw) - 1);
        if ((repe || repne) &&
            (m == ZYDIS_MNEMONIC_CMPSB || m == ZYDIS_MNEMONIC_CMPSW || m == ZYDIS_MNEMONIC_CMPSD ||
             m == ZYDIS_MNEMONIC_CMPSQ || m == ZYDIS_MNEMONIC_SCASB || m == ZYDIS_MNEMONIC_SCASW ||
             m == ZYDIS_MNEMONIC_SCASD || m == ZYDIS_MNEMONIC_SCASQ) &&
            (repe ? !(cpu->rflags & RFLAGS_ZF) : (cpu->rflags & RFLAGS_ZF)))
            return true;
        if (cpu->vm->stopping)
            break;
    }
    if (get_index(cpu, GPR_RCX, aw) != 0)
        unfinished(cpu);
    return true;
}
