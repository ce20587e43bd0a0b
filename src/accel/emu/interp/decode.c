/*
 * Instruction fetch and decode, with a cache of decoded instructions keyed
 * by guest-physical address and decoder mode. A full Zydis decode costs
 * ~100 ns; a cache hit costs a TLB lookup and a compare. An entry is valid
 * while its page's generation (struct emu_vm) is unchanged: any store to
 * the page bumps it, so self-modifying and cross-modifying code re-decodes.
 * Instructions that cross a page boundary or lie outside RAM are decoded
 * every time.
 */
#include <stdlib.h>
#include <string.h>

#include "accel/emu/interp/interp.h"

#define DCACHE_SIZE 8192 /* entries, a power of two */

struct dcache_entry {
    uint64_t key; /* emu_code_key(); 0: empty */
    uint32_t gen;
    struct emu_decoded d;
};

struct emu_decode_cache {
    struct dcache_entry e[DCACHE_SIZE];
    struct emu_decoded scratch; /* for instructions that are not cached */
};

/* One decoder per decode mode (cpu/cpu.h): filled once, read-only after. */
static ZydisDecoder decoders[EMU_DECODE_MODES];

void emu_decode_init(void)
{
    static const ZydisMachineMode machine[CODE_MODES] = {
        [CODE_LONG_64] = ZYDIS_MACHINE_MODE_LONG_64,
        [CODE_COMPAT_32] = ZYDIS_MACHINE_MODE_LONG_COMPAT_32,
        [CODE_COMPAT_16] = ZYDIS_MACHINE_MODE_LONG_COMPAT_16,
        [CODE_LEGACY_32] = ZYDIS_MACHINE_MODE_LEGACY_32,
        [CODE_LEGACY_16] = ZYDIS_MACHINE_MODE_LEGACY_16,
        [CODE_REAL_16] = ZYDIS_MACHINE_MODE_REAL_16,
    };
    static const ZydisStackWidth stack[3] = {ZYDIS_STACK_WIDTH_16, ZYDIS_STACK_WIDTH_32,
                                             ZYDIS_STACK_WIDTH_64};

    for (int m = 0; m < CODE_MODES; m++)
        for (int w = 0; w < 3; w++)
            ZydisDecoderInit(&decoders[EMU_DECODE_MODE(m, w)], machine[m], stack[w]);
}

const ZydisDecoder *emu_decoder(const struct emu_cpu *cpu)
{
    return &decoders[cpu->decode_mode];
}

int emu_dcache_init(struct emu_cpu *cpu)
{
    cpu->dcache = calloc(1, sizeof(*cpu->dcache));
    return cpu->dcache ? 0 : -1;
}

void emu_dcache_free(struct emu_cpu *cpu)
{
    free(cpu->dcache);
    cpu->dcache = NULL;
}

/* Full decode from guest memory into d; raises #PF, #GP (CS limit), #UD. */
static void decode_slow(struct emu_cpu *cpu, uint64_t lin, unsigned avail, struct emu_decoded *d)
{
    uint8_t buf[ZYDIS_MAX_INSTRUCTION_LENGTH];
    unsigned n = emu_fetch(cpu, lin, buf, avail);
    ZyanStatus st = ZydisDecoderDecodeFull(emu_decoder(cpu), buf, n, &d->insn, d->ops);

    if (st == ZYDIS_STATUS_NO_MORE_DATA) {
        if (n < avail)
            emu_read_lin(cpu, lin + n, 1, ACC_FETCH, cpu->cpl); /* raises the #PF */
        if (avail < sizeof(buf))
            emu_raise(cpu, EXC_GP, 0); /* runs past the CS limit */
    }
    if (!ZYAN_SUCCESS(st))
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    d->fpu_len = 0;
}

void emu_decode(struct emu_cpu *cpu)
{
    unsigned avail = ZYDIS_MAX_INSTRUCTION_LENGTH;
    struct emu_decode_cache *c = cpu->dcache;
    struct dcache_entry *e;
    uint64_t lin, key, page;
    uint8_t *host;
    uint32_t gen;

    if (cpu->code_bits == 64) {
        lin = cpu->rip;
    } else {
        const struct cpu_segment *cs = &cpu->seg[SEG_CS];

        if (cpu->rip > cs->limit)
            emu_raise(cpu, EXC_GP, 0);
        if (cs->limit - cpu->rip + 1 < avail)
            avail = (unsigned)(cs->limit - cpu->rip + 1);
        lin = (cs->base + cpu->rip) & 0xffffffff;
    }
    host = emu_fetch_host(cpu, lin);
    if (!host || (lin & 0xfff) + ZYDIS_MAX_INSTRUCTION_LENGTH > 4096 ||
        avail < ZYDIS_MAX_INSTRUCTION_LENGTH) {
        decode_slow(cpu, lin, avail, &c->scratch);
        cpu->decoded = &c->scratch;
        return;
    }
    key = emu_code_key(cpu, host);
    page = emu_code_page(cpu, host);
    gen = emu_code_gen(cpu, page);
    e = &c->e[((uintptr_t)host ^ ((uintptr_t)host >> 13)) & (DCACHE_SIZE - 1)];
    if (e->key != key || e->gen != gen) {
        gen = emu_code_watch(cpu, page, (unsigned)(lin & 0xfff), ZYDIS_MAX_INSTRUCTION_LENGTH);
        e->key = 0;
        decode_slow(cpu, lin, avail, &e->d);
        e->key = key;
        e->gen = gen;
    }
    cpu->decoded = &e->d;
}
