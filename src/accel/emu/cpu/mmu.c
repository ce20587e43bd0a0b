/*
 * The emu engine's MMU: linear-to-physical translation for every paging mode
 * (none, 32-bit, PAE, 4-level; SDM Vol. 3A chapter 4) with A/D bits, NX, WP,
 * SMEP and SMAP, and a TLB per PCID and access type that caches the host
 * address of each page, so the common access is a tag compare and a memcpy
 * (cpu.h, struct emu_tlb_ctx).
 */
#include <string.h>

#include "accel/emu/cpu/cpu.h"
#include "hw/irqchip/irqchip.h"
#include "vm/vm.h"

/* The local APIC's page is per vCPU: it is routed here, not on the MMIO bus. */
static bool is_apic_page(const struct emu_cpu *cpu, uint64_t gpa)
{
    return (gpa & ~0xfffULL) == (cpu->msr.apic_base & ~0xfffULL);
}

static uint64_t apic_read(struct emu_cpu *cpu, uint64_t gpa, unsigned size)
{
    unsigned off = (unsigned)(gpa & 0xfff), shift = (off & 3) * 8;
    uint64_t v = lapic_mmio_read(cpu->evm->chip, cpu->index, off & ~3u) >> shift;

    return size >= 4 ? v : v & ((1ULL << (size * 8)) - 1);
}

#define PTE_P     (1ULL << 0)
#define PTE_RW    (1ULL << 1)
#define PTE_US    (1ULL << 2)
#define PTE_A     (1ULL << 5)
#define PTE_D     (1ULL << 6)
#define PTE_PS    (1ULL << 7)
#define PTE_G     (1ULL << 8)
#define PTE_NX    (1ULL << 63)
#define ADDR_MASK 0x000ffffffffff000ULL

#define NO_PCID 0xffff /* a context slot that holds no PCID's entries: all empty */

static uint16_t current_pcid(const struct emu_cpu *cpu)
{
    return cpu->cr4 & CR4_PCIDE ? cpu->cr3 & 0xfff : 0;
}

/* Whether e is part of the page holding linear, of whatever size. */
static bool covers(const struct tlb_entry *e, uint64_t linear)
{
    return e->vpn && ((e->vpn - 1) >> 1) >> (e->shift - 12) == linear >> e->shift;
}

static void note_large(struct emu_tlb_ctx *c, uint64_t linear, unsigned shift)
{
    uint64_t base = linear & ~((1ULL << shift) - 1);

    if (base < c->large_lo)
        c->large_lo = base;
    if (base + ((1ULL << shift) - 1) > c->large_hi)
        c->large_hi = base + ((1ULL << shift) - 1);
}

enum drop { DROP_ALL, DROP_GLOBAL, DROP_NON_GLOBAL };

/* Drops c's entries (those of kind which) for the page holding linear:
 * the one slot of its 4 KiB, or, where c's large pages may hold it, every
 * slot (a large page's entries may be in any). */
static void drop_page(struct emu_tlb_ctx *c, uint64_t linear, enum drop which)
{
    bool scan = c->large_lo <= linear && linear <= c->large_hi;
    int first = scan ? 0 : (int)emu_tlb_index(linear >> 12), last = scan ? TLB_SIZE - 1 : first;

    for (int a = 0; a < 3; a++)
        for (int i = first; i <= last; i++) {
            struct tlb_entry *e = &c->e[a][i];

            if (covers(e, linear) && (which == DROP_ALL || e->global == (which == DROP_GLOBAL)))
                e->vpn = 0;
        }
}

/* Every invalidation: links made since the last may lead through what it
 * dropped, and so may those a context saved when it was left (global
 * entries are in every context; a flush of another PCID's context drops
 * what its links followed). global: it may drop global entries too, so
 * that what was kept for code on global pages goes as well
 * (global_epoch). */
static void invalidated(struct emu_cpu *cpu, bool global)
{
    cpu->stats.tlb_flushes++;
    cpu->map_epoch++;
    if (global) {
        cpu->global_epoch++;
        memset(cpu->global_code, 0, sizeof(cpu->global_code));
    }
    for (int i = 0; i < TLB_CONTEXTS; i++)
        cpu->tlb[i].resume = false;
}

static void clear_context(struct emu_tlb_ctx *c, bool include_global)
{
    for (int a = 0; a < 3; a++)
        for (int i = 0; i < TLB_SIZE; i++)
            if (include_global || !c->e[a][i].global)
                c->e[a][i].vpn = 0;
    if (include_global) {
        c->large_lo = UINT64_MAX;
        c->large_hi = 0;
    }
}

static struct emu_tlb_ctx *find_context(struct emu_cpu *cpu, uint16_t pcid)
{
    for (int i = 0; i < TLB_CONTEXTS; i++)
        if (cpu->tlb[i].pcid == pcid)
            return &cpu->tlb[i];
    return NULL;
}

void emu_tlb_flush(struct emu_cpu *cpu, bool include_global)
{
    invalidated(cpu, include_global);
    for (int i = 0; i < TLB_CONTEXTS; i++) {
        if (cpu->tlb[i].pcid == NO_PCID)
            continue;
        clear_context(&cpu->tlb[i], include_global);
        if (include_global) {
            cpu->tlb[i].pcid = NO_PCID;
            cpu->tlb[i].used = 0;
        }
    }
    if (include_global)
        clear_context(&cpu->tlb_global, true);
    if (!cpu->tlb_ctx) { /* the vCPU's first reset */
        cpu->tlb_ctx = &cpu->tlb[0];
        cpu->tlb_cur = cpu->tlb[0].e;
    }
    cpu->tlb_ctx->pcid = current_pcid(cpu);
}

void emu_tlb_flush_page(struct emu_cpu *cpu, uint64_t linear)
{
    const struct emu_tlb_ctx *g = &cpu->tlb_global;

    cpu->stats.tlb_page_flushes++;
    /* What is cached under global_epoch (code on global pages) goes if it
     * was made for this page, or if a global large page may hold the
     * address: INVLPG drops the whole large page (SDM Vol. 2A, INVLPG),
     * whose other 4 KiB pages the filter does not name. A block running
     * into the next page tests that page at each entry
     * (emu_block_across_ok): only its first page counts here. */
    invalidated(cpu, emu_global_code_noted(cpu, linear) ||
                         (g->large_lo <= linear && linear <= g->large_hi));
    drop_page(&cpu->tlb_global, linear, DROP_ALL);
    for (int i = 0; i < TLB_CONTEXTS; i++)
        if (cpu->tlb[i].pcid != NO_PCID)
            drop_page(&cpu->tlb[i], linear, &cpu->tlb[i] == cpu->tlb_ctx ? DROP_ALL : DROP_GLOBAL);
}

void emu_tlb_flush_pcid(struct emu_cpu *cpu, uint16_t pcid)
{
    struct emu_tlb_ctx *c = find_context(cpu, pcid);

    invalidated(cpu, false);
    if (c)
        clear_context(c, false);
}

void emu_tlb_flush_pcid_page(struct emu_cpu *cpu, uint16_t pcid, uint64_t linear)
{
    struct emu_tlb_ctx *c = find_context(cpu, pcid);

    invalidated(cpu, false);
    if (c)
        drop_page(c, linear, DROP_NON_GLOBAL);
}

/* What block links depend on besides translations and the CPL (which
 * their epoch carries): the mode emu_update_mode keys them to. */
static void mode_key(const struct emu_cpu *cpu, uint64_t key[2])
{
    key[0] = (uint64_t)cpu->code_bits << 8 | (uint64_t)cpu->decode_mode << 16 |
             (uint64_t)cpu->link_cs_limit << 32;
    key[1] = cpu->link_cs_base;
}

/*
 * Makes to the current context. map_epoch moves to to's values: each slot
 * uses its own (slot i's from i << 56 up), in increasing order, so a value
 * names one stretch of one slot's time as the current context, over which
 * its translations, and the mode, stayed as they were (every invalidation
 * and every mode change bumps map_epoch). Block links are made under the
 * current value only. So when nothing has been invalidated since to was
 * left (resume) and the mode is the one it was left in, the links made
 * under the value it left with still hold: they followed translations that
 * to's entries, kept as §4.10.2.4 allows while another PCID was current,
 * still give. Then map_epoch goes back to that value, and its links are
 * followed again; otherwise to's stretch starts at a value never used.
 */
static void switch_context(struct emu_cpu *cpu, struct emu_tlb_ctx *to)
{
    struct emu_tlb_ctx *from = cpu->tlb_ctx;
    uint64_t key[2], base = (uint64_t)(to - cpu->tlb) << 56;

    mode_key(cpu, key);
    from->epoch = cpu->map_epoch;
    from->resume = true;
    from->mode_key[0] = key[0];
    from->mode_key[1] = key[1];
    if (to->epoch < base)
        to->epoch = base;
    if (to->resume && to->mode_key[0] == key[0] && to->mode_key[1] == key[1])
        cpu->map_epoch = to->epoch;
    else
        cpu->map_epoch = to->epoch + 1;
    to->resume = false;
    cpu->tlb_ctx = to;
    cpu->tlb_cur = to->e;
}

void emu_tlb_load_cr3(struct emu_cpu *cpu, uint64_t cr3, bool keep)
{
    struct emu_tlb_ctx *c;
    uint16_t pcid;

    cpu->cr3 = cr3;
    pcid = current_pcid(cpu);
    c = find_context(cpu, pcid);
    if (!c) {
        /* The least recently used slot but the current one (free ones
         * have used 0). */
        c = NULL;
        for (int i = 0; i < TLB_CONTEXTS; i++)
            if (&cpu->tlb[i] != cpu->tlb_ctx && (!c || cpu->tlb[i].used < c->used))
                c = &cpu->tlb[i];
        clear_context(c, true);
        c->pcid = pcid;
        c->resume = false;
    }
    c->used = ++cpu->tlb_clock;
    if (c != cpu->tlb_ctx)
        switch_context(cpu, c);
    if (!keep) {
        invalidated(cpu, false);
        clear_context(c, false);
    }
}

static uint64_t read_pte(struct emu_cpu *cpu, uint64_t gpa, bool wide)
{
    uint8_t *p = mem_ptr(&cpu->vm->mem, gpa, wide ? 8 : 4);
    uint64_t v = 0;

    /* A table outside RAM reads as all ones on real hardware (nothing
     * answers); treat it as not present instead, which faults cleanly. */
    if (!p)
        return 0;
    memcpy(&v, p, wide ? 8 : 4);
    return v;
}

/* Sets bits in a paging-structure entry, as the CPU does with a locked OR. */
static void set_pte_bits(struct emu_cpu *cpu, uint64_t gpa, uint64_t bits)
{
    uint32_t *p = mem_ptr(&cpu->vm->mem, gpa, 4);

    if (p)
        __atomic_fetch_or(p, (uint32_t)bits, __ATOMIC_SEQ_CST);
}

static __attribute__((noreturn)) void page_fault(struct emu_cpu *cpu, uint64_t linear,
                                                 uint32_t code)
{
    cpu->cr2 = linear;
    emu_raise(cpu, EXC_PF, (int)code);
}

/* What a walk found: the translation, the rights the entries combine to,
 * and the entries it used (leaf last), whose A and D flags are set only
 * once the access is known not to fault (SDM Vol. 3A §4.8). */
struct walk {
    uint64_t gpa;
    bool writable, user, nx, global;
    uint8_t pkey;  /* the leaf's protection key, 4-level paging only */
    uint8_t shift; /* log2 of the page's size */
    int entries;
    uint64_t entry_gpa[4], entry[4];
};

/* Reserved bits of a present 64-bit entry, any level (SDM Vol. 3A Tables
 * 4-14 to 4-20): physical-address bits from MAXPHYADDR up (to bit 51 in
 * 4-level paging, to bit 62 in PAE paging), and XD while EFER.NXE is 0. */
static uint64_t reserved_bits(const struct emu_cpu *cpu, bool lm)
{
    uint64_t r = (lm ? 1ULL << 52 : 1ULL << 63) - (1ULL << EMU_PHYS_BITS);

    return cpu->efer & EFER_NXE ? r : r | PTE_NX;
}

/* Walks the paging structures for linear (no permission checks yet); raises
 * #PF for a not-present entry, or with RSVD for a reserved bit set. */
static void walk(struct emu_cpu *cpu, uint64_t linear, uint32_t code, struct walk *w)
{
    bool pae = cpu->cr4 & CR4_PAE, lm = emu_long_mode(cpu);
    bool nxe = cpu->efer & EFER_NXE;
    uint64_t table, entry = 0, entry_gpa, rsvd;
    int level, shift_top;

    w->writable = w->user = true;
    w->nx = w->global = false;
    w->entries = 0;
    w->pkey = 0;
    if (!pae) {
        /* 32-bit paging: two levels of 4-byte entries. */
        entry_gpa = (cpu->cr3 & 0xfffff000) + ((linear >> 22) & 0x3ff) * 4;
        entry = read_pte(cpu, entry_gpa, false);
        if (!(entry & PTE_P))
            page_fault(cpu, linear, code);
        w->entry_gpa[w->entries] = entry_gpa;
        w->entry[w->entries++] = entry;
        w->writable = entry & PTE_RW;
        w->user = entry & PTE_US;
        if ((entry & PTE_PS) && (cpu->cr4 & CR4_PSE)) {
            /* Bits 20:13 are physical-address bits 39:32; bit 21 (to
             * MAXPHYADDR - 19) is reserved (SDM Vol. 3A Table 4-4). */
            if (entry & (1ULL << (EMU_PHYS_BITS - 19)))
                page_fault(cpu, linear, code | PFEC_P | PFEC_RSVD);
            w->gpa = (entry & 0xffc00000) | (((entry >> 13) & 0xff) << 32) | (linear & 0x3fffff);
            w->global = entry & PTE_G;
            w->shift = 22;
            return;
        }
        entry_gpa = (entry & 0xfffff000) + ((linear >> 12) & 0x3ff) * 4;
        entry = read_pte(cpu, entry_gpa, false);
        if (!(entry & PTE_P))
            page_fault(cpu, linear, code);
        w->entry_gpa[w->entries] = entry_gpa;
        w->entry[w->entries++] = entry;
        w->writable &= !!(entry & PTE_RW);
        w->user &= !!(entry & PTE_US);
        w->gpa = (entry & 0xfffff000) | (linear & 0xfff);
        w->global = entry & PTE_G;
        w->shift = 12;
        return;
    }
    rsvd = reserved_bits(cpu, lm);
    if (lm) {
        table = cpu->cr3 & ADDR_MASK;
        shift_top = 39;
    } else {
        /* PAE: the four PDPTEs (SDM §4.4.1); they carry no R/W, U/S, NX or A. */
        entry_gpa = (cpu->cr3 & 0xffffffe0) + ((linear >> 30) & 3) * 8;
        entry = read_pte(cpu, entry_gpa, true);
        if (!(entry & PTE_P))
            page_fault(cpu, linear, code);
        table = entry & ADDR_MASK;
        shift_top = 21;
    }
    for (level = shift_top;; level -= 9) {
        entry_gpa = table + ((linear >> level) & 0x1ff) * 8;
        entry = read_pte(cpu, entry_gpa, true);
        if (!(entry & PTE_P))
            page_fault(cpu, linear, code);
        if (entry & rsvd)
            page_fault(cpu, linear, code | PFEC_P | PFEC_RSVD);
        w->entry_gpa[w->entries] = entry_gpa;
        w->entry[w->entries++] = entry;
        w->writable &= !!(entry & PTE_RW);
        w->user &= !!(entry & PTE_US);
        w->nx |= nxe && (entry & PTE_NX);
        /* PS in a PDPTE is reserved without 1-GByte pages (SDM Vol. 3A §4.5). */
        if (level == 30 && (entry & PTE_PS) && !cpu_model_has(cpu->vm->cfg.cpu_off, CPU_PDPE1GB))
            page_fault(cpu, linear, code | PFEC_P | PFEC_RSVD);
        if (level == 12 || ((entry & PTE_PS) && level <= 30)) {
            uint64_t page_mask = (1ULL << level) - 1;

            /* Bits 12 (PAT) to the page size are reserved in large pages. */
            if (level > 12 && (entry & (page_mask & ~0x1fffULL) & ADDR_MASK))
                page_fault(cpu, linear, code | PFEC_P | PFEC_RSVD);
            w->gpa = (entry & ADDR_MASK & ~page_mask) | (linear & page_mask);
            w->global = entry & PTE_G;
            w->shift = (uint8_t)level;
            if (lm)
                w->pkey = (uint8_t)((entry >> 59) & 15);
            return;
        }
        if (level == 39 && (entry & PTE_PS))
            page_fault(cpu, linear, code | PFEC_P | PFEC_RSVD);
        table = entry & ADDR_MASK;
    }
}

/* After a translation that does not fault: A in every entry it used, and D
 * in the leaf for a write (SDM Vol. 3A §4.8). */
static void set_accessed(struct emu_cpu *cpu, const struct walk *w, bool write)
{
    int leaf = w->entries - 1;

    for (int i = 0; i < leaf; i++)
        if (!(w->entry[i] & PTE_A))
            set_pte_bits(cpu, w->entry_gpa[i], PTE_A);
    if (write)
        set_pte_bits(cpu, w->entry_gpa[leaf], PTE_A | PTE_D);
    else if (!(w->entry[leaf] & PTE_A))
        set_pte_bits(cpu, w->entry_gpa[leaf], PTE_A);
}

/* The TLB miss path of translate(): walks, checks and fills the entry. */
/* Protection keys (SDM Vol. 3A §4.6.2): a data access, at any CPL and
 * implicit ones too, is refused if the AD bit for the page's key is set,
 * a write if its WD bit is, unless a supervisor one with CR0.WP clear; the
 * bits are PKRU's for a user page (with CR4.PKE), IA32_PKRS's for a
 * supervisor page (with CR4.PKS). A refusal sets PK in the error code of
 * whatever #PF the access raises, alone or with another permission fault
 * (§4.7). TLB entries keep the verdict: a change of either register
 * empties the TLB (set_keys). */
static bool pkey_denies(const struct emu_cpu *cpu, const struct walk *w, enum emu_access acc,
                        bool user)
{
    uint32_t rights;

    if (acc == ACC_FETCH || !emu_long_mode(cpu) || !(cpu->cr4 & (w->user ? CR4_PKE : CR4_PKS)))
        return false;
    rights = (w->user ? cpu->pkru : cpu->pkrs) >> (2 * w->pkey);
    return (rights & 1) || (acc == ACC_WRITE && (rights & 2) && (user || (cpu->cr0 & CR0_WP)));
}

static void set_keys(struct emu_cpu *cpu, uint32_t *reg, uint32_t v)
{
    if (v != *reg) {
        *reg = v;
        emu_tlb_flush(cpu, true);
    }
}

void emu_set_pkru(struct emu_cpu *cpu, uint32_t v)
{
    set_keys(cpu, &cpu->pkru, v);
}

void emu_set_pkrs(struct emu_cpu *cpu, uint32_t v)
{
    set_keys(cpu, &cpu->pkrs, v);
}

static __attribute__((noinline)) struct tlb_entry *
translate_miss(struct emu_cpu *cpu, uint64_t linear, enum emu_access acc, int cpl)
{
    bool user = cpl == 3;
    uint64_t vpn = linear >> 12, tag = emu_tlb_tag(linear, cpl);
    struct tlb_entry *e = &cpu->tlb_cur[acc][emu_tlb_index(vpn)];
    struct tlb_entry *g = &cpu->tlb_global.e[acc][emu_tlb_index(vpn)];
    uint32_t code = (acc == ACC_WRITE ? PFEC_W : 0) | (user ? PFEC_U : 0);
    struct walk w;

    /* A global translation another context cached holds in this one. */
    if (g->vpn == tag) {
        *e = *g;
        if (e->shift > 12)
            note_large(cpu->tlb_ctx, linear, e->shift);
        return e;
    }
    cpu->stats.tlb_misses++;
    if (!(cpu->cr0 & CR0_PG)) {
        w = (struct walk){.gpa = emu_long_mode(cpu) ? linear : linear & 0xffffffff, .shift = 12};
    } else {
        if (acc == ACC_FETCH && ((cpu->efer & EFER_NXE) || (cpu->cr4 & CR4_SMEP)))
            code |= PFEC_I;
        walk(cpu, linear, code, &w);
        if (pkey_denies(cpu, &w, acc, user))
            code |= PFEC_PK;
        if (user && !w.user)
            page_fault(cpu, linear, code | PFEC_P);
        if (acc == ACC_WRITE && !w.writable && (user || (cpu->cr0 & CR0_WP)))
            page_fault(cpu, linear, code | PFEC_P);
        if (acc == ACC_FETCH && w.nx)
            page_fault(cpu, linear, code | PFEC_P);
        if (!user && w.user) {
            if (acc == ACC_FETCH && (cpu->cr4 & CR4_SMEP))
                page_fault(cpu, linear, code | PFEC_P);
            /* SMAP: explicit supervisor data accesses with EFLAGS.AC clear
             * (implicit ones pass cpl 0 from CPL 3 code and are caught too). */
            if (acc != ACC_FETCH && (cpu->cr4 & CR4_SMAP) &&
                (!(cpu->rflags & RFLAGS_AC) || cpu->cpl == 3))
                page_fault(cpu, linear, code | PFEC_P);
        }
        if (code & PFEC_PK)
            page_fault(cpu, linear, code | PFEC_P);
        set_accessed(cpu, &w, acc == ACC_WRITE);
    }
    e->vpn = tag;
    e->gpa = w.gpa & ~0xfffULL;
    /* G counts only with CR4.PGE (SDM Vol. 3A §4.10.2.4). */
    e->global = w.global && (cpu->cr4 & CR4_PGE);
    e->shift = w.shift;
    {
        uint8_t *host = mem_ptr(&cpu->vm->mem, e->gpa, 4096);

        e->ram = host != NULL;
        e->addend = (uintptr_t)host - (uintptr_t)(linear & ~0xfffULL);
    }
    /* SMAP depends on RFLAGS.AC at each access: a supervisor data access
     * to a user page is not kept, so the next one is checked again. Nor is
     * a page of MMIO: a hit is always RAM, which spares translated code a
     * test per memory operand (device accesses cost far more than the walk).
     * Nor a non-canonical address (a path that walks one without a check,
     * such as an exception frame pushed below a non-canonical RSP): the
     * translator's probe takes a hit as canonical. */
    if (!e->ram || (!user && w.user && acc != ACC_FETCH && (cpu->cr4 & CR4_SMAP)) ||
        (emu_long_mode(cpu) && !emu_canonical(linear))) {
        e->vpn = 0;
        return e;
    }
    if (e->shift > 12)
        note_large(cpu->tlb_ctx, linear, e->shift);
    if (e->global) {
        *g = *e;
        if (e->shift > 12)
            note_large(&cpu->tlb_global, linear, e->shift);
    }
    return e;
}

/* Translates linear for acc at privilege cpl (3 = user access) and returns
 * its TLB entry; a hit costs a compare. Raises #PF. */
static inline struct tlb_entry *translate(struct emu_cpu *cpu, uint64_t linear, enum emu_access acc,
                                          int cpl)
{
    uint64_t vpn = linear >> 12, tag = emu_tlb_tag(linear, cpl);
    struct tlb_entry *e = &cpu->tlb_cur[acc][emu_tlb_index(vpn)];

    if (__builtin_expect(e->vpn == tag, 1))
        return e;
    return translate_miss(cpu, linear, acc, cpl);
}

static uint64_t phys_read(struct emu_cpu *cpu, struct tlb_entry *e, uint64_t linear, unsigned size)
{
    uint64_t v = 0;

    if (e->ram) {
        memcpy(&v, emu_tlb_host(e, linear), size);
        return v;
    }
    if (is_apic_page(cpu, e->gpa)) {
        cpu->stats.apic++;
        return apic_read(cpu, e->gpa | (linear & 0xfff), size);
    }
    cpu->stats.mmio++;
    return bus_read(&cpu->vm->mmio, e->gpa | (linear & 0xfff), size);
}

uint64_t emu_read_lin(struct emu_cpu *cpu, uint64_t linear, unsigned size, enum emu_access acc,
                      int cpl)
{
    uint64_t v = 0;

    if (!emu_long_mode(cpu))
        linear &= 0xffffffff;
    if ((linear & 0xfff) + size <= 4096)
        return phys_read(cpu, translate(cpu, linear, acc, cpl), linear, size);
    /* Crossing a page: both halves must translate before anything is read. */
    translate(cpu, linear, acc, cpl);
    /* CR2 of a fault there is the first byte of the second page. */
    translate(cpu, (linear + size - 1) & ~0xfffULL, acc, cpl);
    for (unsigned i = 0; i < size; i++)
        v |= phys_read(cpu, translate(cpu, linear + i, acc, cpl), linear + i, 1) << (8 * i);
    return v;
}

static void phys_write(struct emu_cpu *cpu, struct tlb_entry *e, uint64_t linear, uint64_t v,
                       unsigned size)
{
    if (e->ram) {
        memcpy(emu_tlb_host(e, linear), &v, size);
        emu_code_written(cpu, emu_tlb_host(e, linear), size);
    } else if (is_apic_page(cpu, e->gpa)) {
        cpu->stats.apic++;
        /* The APIC takes aligned 32-bit writes (SDM Vol. 3A §11.4.1). */
        lapic_mmio_write(cpu->evm->chip, cpu->index, (uint32_t)(linear & 0xffc), (uint32_t)v);
    } else {
        cpu->stats.mmio++;
        bus_write(&cpu->vm->mmio, e->gpa | (linear & 0xfff), size, v);
    }
}

void emu_write_lin(struct emu_cpu *cpu, uint64_t linear, uint64_t value, unsigned size, int cpl)
{
    if (!emu_long_mode(cpu))
        linear &= 0xffffffff;
    if ((linear & 0xfff) + size <= 4096) {
        phys_write(cpu, translate(cpu, linear, ACC_WRITE, cpl), linear, value, size);
        return;
    }
    translate(cpu, linear, ACC_WRITE, cpl);
    translate(cpu, (linear + size - 1) & ~0xfffULL, ACC_WRITE, cpl);
    for (unsigned i = 0; i < size; i++)
        phys_write(cpu, translate(cpu, linear + i, ACC_WRITE, cpl), linear + i,
                   (value >> (8 * i)) & 0xff, 1);
}

uint8_t *emu_fetch_host(struct emu_cpu *cpu, uint64_t linear)
{
    struct tlb_entry *e;

    if (!emu_long_mode(cpu))
        linear &= 0xffffffff;
    e = translate(cpu, linear, ACC_FETCH, cpu->cpl);
    cpu->fetch_global = e->global;
    return e->ram ? emu_tlb_host(e, linear) : NULL;
}

/* translate() for a later page of an instruction: a fault there only
 * matters if the decoder needs those bytes, so it is caught, not raised. */
static struct tlb_entry *try_translate_fetch(struct emu_cpu *cpu, uint64_t linear)
{
    struct tlb_entry *e = NULL;
    uint64_t cr2 = cpu->cr2;
    jmp_buf saved;

    memcpy(saved, cpu->fault_jmp, sizeof(saved));
    if (setjmp(cpu->fault_jmp) == 0)
        e = translate(cpu, linear, ACC_FETCH, cpu->cpl);
    else
        cpu->cr2 = cr2;
    memcpy(cpu->fault_jmp, saved, sizeof(saved));
    return e;
}

uint8_t *emu_fetch_host_next(struct emu_cpu *cpu, uint64_t linear)
{
    struct tlb_entry *e;

    if (!emu_long_mode(cpu))
        linear &= 0xffffffff;
    e = try_translate_fetch(cpu, linear);
    return e && e->ram ? emu_tlb_host(e, linear) : NULL;
}

unsigned emu_fetch(struct emu_cpu *cpu, uint64_t linear, uint8_t *buf, unsigned len)
{
    unsigned done = 0;

    while (done < len) {
        uint64_t lin = linear + done;
        unsigned chunk = 4096 - (unsigned)(lin & 0xfff);
        struct tlb_entry *e;

        if (!emu_long_mode(cpu))
            lin &= 0xffffffff;
        if (chunk > len - done)
            chunk = len - done;
        e = done == 0 ? translate(cpu, lin, ACC_FETCH, cpu->cpl) : try_translate_fetch(cpu, lin);
        if (!e)
            return done;
        if (e->ram)
            memcpy(buf + done, emu_tlb_host(e, lin), chunk);
        else
            for (unsigned i = 0; i < chunk; i++)
                buf[done + i] = (uint8_t)bus_read(&cpu->vm->mmio, e->gpa | ((lin + i) & 0xfff), 1);
        done += chunk;
    }
    return done;
}

uint8_t *emu_host_range(struct emu_cpu *cpu, int seg, uint64_t offset, unsigned len, bool write)
{
    uint64_t linear = emu_linear(cpu, seg, offset, len, write);
    struct tlb_entry *e;

    if (!emu_long_mode(cpu))
        linear &= 0xffffffff;
    if (cpu->bp_data)
        emu_debug_watch(cpu, linear, len, write);
    if ((linear & 0xfff) + len > 4096)
        return NULL;
    e = translate(cpu, linear, write ? ACC_WRITE : ACC_READ, cpu->cpl);
    if (!e->ram)
        return NULL;
    if (write)
        emu_code_written(cpu, emu_tlb_host(e, linear), len);
    return emu_tlb_host(e, linear);
}

uint8_t *emu_host_atomic(struct emu_cpu *cpu, int seg, uint64_t offset, unsigned len)
{
    uint64_t linear = emu_linear(cpu, seg, offset, len, true), last;
    struct tlb_entry *e;
    uint8_t *first;

    if (!emu_long_mode(cpu))
        linear &= 0xffffffff;
    if (cpu->bp_data)
        emu_debug_watch(cpu, linear, len, true);
    e = translate(cpu, linear, ACC_WRITE, cpu->cpl);
    first = e->ram ? emu_tlb_host(e, linear) : NULL;
    if ((linear & 0xfff) + len <= 4096) {
        if (first)
            emu_code_written(cpu, first, len);
        return first;
    }
    /* Across a page: CR2 of a fault on the second is its first byte. */
    last = (linear + len - 1) & ~0xfffULL;
    if (!emu_long_mode(cpu))
        last &= 0xffffffff;
    {
        struct tlb_entry *e2 = translate(cpu, last, ACC_WRITE, cpu->cpl);
        uint8_t *second = e2->ram ? emu_tlb_host(e2, last) : NULL;

        if (!first || second != first - (linear & 0xfff) + 4096)
            return NULL;
        emu_code_written(cpu, first, (unsigned)(4096 - (linear & 0xfff)));
        emu_code_written(cpu, second, (unsigned)(len - (4096 - (linear & 0xfff))));
    }
    return first;
}
