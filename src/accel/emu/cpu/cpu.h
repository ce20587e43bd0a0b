/*
 * The emu engine's CPU model: architectural state, the MMU and TLB,
 * segmentation, interrupt and exception delivery, tasks, MSRs, CPUID,
 * events and timers (this folder), and the services the interpreter
 * (interp/) and the translator (jit/) build on. No decoder types: what an
 * instruction is and how it runs is interp/interp.h's.
 *
 * Faults: an instruction that faults calls emu_raise(), which unwinds to the
 * run loop with longjmp. Instructions therefore commit register state only
 * after every access that can fault, except where the architecture itself
 * defines partial progress (REP string instructions update RCX/RSI/RDI per
 * element, so a fault resumes at the faulting element).
 */
#ifndef VX86_ACCEL_EMU_CPU_H
#define VX86_ACCEL_EMU_CPU_H

#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "accel/accel.h"

struct vm;

/*
 * Per-VM state of the engine: which 64-byte lines of each RAM page hold
 * decoded code, and a generation per page that a write to one of those
 * lines bumps, so every vCPU's decode cache sees the change (self- and
 * cross-modifying code). Lines, not pages: code often shares its page
 * with data (firmware, real-mode code, the IDT stubs of a test), and a
 * store to the data must not throw the page's code away.
 */
struct emu_vm {
    struct irqchip *chip; /* PIC, PIT, IOAPIC, LAPICs (hw/irqchip) */
    uint8_t *base;        /* host address of guest RAM (vm->mem.base) */
    uint64_t pages;
    _Atomic uint64_t *code; /* per page: bit n, line n may hold decoded instructions */
    _Atomic uint32_t *gen;  /* per page: bumped when one of those lines is written */
    /* Exclusive sections (engine.c): excl_pending while one vCPU runs alone
     * or waits for the others to stop; the lock and cond order both. */
    atomic_bool excl_pending;
    pthread_mutex_t excl_lock;
    pthread_cond_t excl_cond;
};

/* SDM Vol. 3A §2.5 (control registers), §2.2.1 (EFER), §3.4.5 (RFLAGS). */
#define CR0_PE (1ULL << 0)
#define CR0_MP (1ULL << 1)
#define CR0_EM (1ULL << 2)
#define CR0_TS (1ULL << 3)
#define CR0_ET (1ULL << 4)
#define CR0_NE (1ULL << 5)
#define CR0_WP (1ULL << 16)
#define CR0_AM (1ULL << 18)
#define CR0_NW (1ULL << 29)
#define CR0_CD (1ULL << 30)
#define CR0_PG (1ULL << 31)

#define CR4_VME        (1ULL << 0)
#define CR4_PVI        (1ULL << 1)
#define CR4_TSD        (1ULL << 2)
#define CR4_DE         (1ULL << 3)
#define CR4_PSE        (1ULL << 4)
#define CR4_PAE        (1ULL << 5)
#define CR4_MCE        (1ULL << 6)
#define CR4_PGE        (1ULL << 7)
#define CR4_PCE        (1ULL << 8)
#define CR4_OSFXSR     (1ULL << 9)
#define CR4_OSXMMEXCPT (1ULL << 10)
#define CR4_UMIP       (1ULL << 11)
#define CR4_FSGSBASE   (1ULL << 16)
#define CR4_PCIDE      (1ULL << 17)
#define CR4_OSXSAVE    (1ULL << 18)
#define CR4_SMEP       (1ULL << 20)
#define CR4_SMAP       (1ULL << 21)
#define CR4_PKE        (1ULL << 22)
#define CR4_PKS        (1ULL << 24)

#define EFER_SCE (1ULL << 0)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define EFER_NXE (1ULL << 11)

#define RFLAGS_CF     (1ULL << 0)
#define RFLAGS_FIXED  (1ULL << 1)
#define RFLAGS_PF     (1ULL << 2)
#define RFLAGS_AF     (1ULL << 4)
#define RFLAGS_ZF     (1ULL << 6)
#define RFLAGS_SF     (1ULL << 7)
#define RFLAGS_TF     (1ULL << 8)
#define RFLAGS_IF     (1ULL << 9)
#define RFLAGS_DF     (1ULL << 10)
#define RFLAGS_OF     (1ULL << 11)
#define RFLAGS_IOPL   (3ULL << 12)
#define RFLAGS_NT     (1ULL << 14)
#define RFLAGS_RF     (1ULL << 16)
#define RFLAGS_VM     (1ULL << 17)
#define RFLAGS_AC     (1ULL << 18)
#define RFLAGS_VIF    (1ULL << 19)
#define RFLAGS_VIP    (1ULL << 20)
#define RFLAGS_ID     (1ULL << 21)
#define RFLAGS_STATUS (RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF)
/* Every flag that is not reserved (SDM Vol. 1 §3.4.3, Figure 3-8): bits 3,
 * 5, 15 and 22-63 read as 0, bit 1 (RFLAGS_FIXED) as 1. */
#define RFLAGS_DEFINED 0x3f7fd5ULL

/* Debug registers, SDM Vol. 3B §17.2: DR6 reads back with bits 4-11 and
 * 16-31 set (no RTM, no bus-lock detection), DR7 with bit 10 set; DR6's
 * B0-B3, BD, BS, BT and DR7's enables, GD and the R/W and LEN fields hold
 * what software writes. */
#define DR6_B0_3     0xfULL
#define DR6_BD       (1ULL << 13)
#define DR6_BS       (1ULL << 14)
#define DR6_FIXED1   0xffff0ff0ULL
#define DR6_WRITABLE (DR6_B0_3 | DR6_BD | DR6_BS | (1ULL << 15))
#define DR7_GD       (1ULL << 13)
#define DR7_FIXED1   (1ULL << 10)
#define DR7_WRITABLE 0xffff23ffULL

/* Exception vectors, SDM Vol. 3A Table 6-1. */
enum {
    EXC_DE = 0,
    EXC_DB = 1,
    EXC_NMI = 2,
    EXC_BP = 3,
    EXC_OF = 4,
    EXC_BR = 5,
    EXC_UD = 6,
    EXC_NM = 7,
    EXC_DF = 8,
    EXC_TS = 10,
    EXC_NP = 11,
    EXC_SS = 12,
    EXC_GP = 13,
    EXC_PF = 14,
    EXC_MF = 16,
    EXC_AC = 17,
    EXC_MC = 18,
    EXC_XM = 19,
};
#define EXC_NO_ERROR (-1)

/* #PF error code bits, SDM Vol. 3A Figure 4-12. */
#define PFEC_P    (1u << 0)
#define PFEC_W    (1u << 1)
#define PFEC_U    (1u << 2)
#define PFEC_RSVD (1u << 3)
#define PFEC_I    (1u << 4)
#define PFEC_PK   (1u << 5)

/* MAXPHYADDR, as CPUID 80000008H reports it: physical-address bits at and
 * above it are reserved in paging entries and in IA32_APIC_BASE. */
#define EMU_PHYS_BITS 40

/* Segment register indexes, in the order of the ModRM sreg encoding. */
enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_COUNT };

enum { GPR_RAX, GPR_RCX, GPR_RDX, GPR_RBX, GPR_RSP, GPR_RBP, GPR_RSI, GPR_RDI };

/* How code decodes (SDM Vol. 1 §3.1, §3.6, §6.2.3): the operating
 * mode and default operand size (enum emu_code_mode) and the stack's
 * address size (16, 32 or 64 bits: 0, 1, 2), in cpu->decode_mode as
 * EMU_DECODE_MODE(mode, stack), a number below EMU_DECODE_MODES. The decode
 * and block caches key code by it; interp/ keeps a decoder for each. */
enum emu_code_mode {
    CODE_LONG_64,
    CODE_COMPAT_32,
    CODE_COMPAT_16,
    CODE_LEGACY_32,
    CODE_LEGACY_16,
    CODE_REAL_16,
    CODE_MODES,
};
#define EMU_DECODE_MODE(mode, stack) ((uint8_t)((mode) << 2 | (stack)))
#define EMU_DECODE_MODES             (CODE_MODES << 2)

/* What a memory access is for: decides the paging checks and the #PF code. */
enum emu_access { ACC_READ, ACC_WRITE, ACC_FETCH };

#define TLB_SIZE     256
#define TLB_CONTEXTS 8 /* PCIDs with cached translations (Linux uses 6 without PTI) */

/*
 * Event counters, one set per vCPU, written only by its own thread. Each is
 * a plain add on a path that is already slow (a TLB walk, a block build, an
 * exception delivery, a device access), so they are always on; profile.c
 * reads them for `vx86 run --profile` and docs/profiling.md says what each
 * means.
 */
struct emu_stats {
    uint64_t insns;            /* guest instructions retired (each pass's count) */
    uint64_t blocks_built;     /* decoded blocks built (block cache misses) */
    uint64_t block_flushes;    /* block cache arena emptied */
    uint64_t jit_translations; /* blocks the binary translator translated */
    uint64_t jit_helper_calls; /* calls from translated code back into C */
    uint64_t jit_code_bytes;   /* host code the translator wrote (all translations) */
    uint64_t jit_entries;      /* entries into translated code from the block loop */
    uint64_t jit_cache_hits;   /* of those, found by the jump cache (no block lookup) */
    uint64_t block_lookups;    /* block table lookups (the jump cache and links missed) */
    uint64_t interp_blocks;    /* blocks run by the interpreter */
    uint64_t tlb_misses;       /* TLB lookups that walked (or read) the page tables */
    uint64_t tlb_flushes;      /* whole-TLB flushes (CR3, CR4, PKRU writes...) */
    uint64_t tlb_page_flushes; /* one-page flushes (INVLPG, INVPCID address) */
    uint64_t steps;            /* instructions run alone by emu_step, outside any block */
    uint64_t generic;          /* instructions run through exec.c's generic groups */
    uint64_t exceptions[32];   /* exceptions delivered, by vector */
    uint64_t soft_ints;        /* INT n, INT3, INTO delivered */
    uint64_t interrupts[256];  /* external interrupts and NMIs delivered, by vector */
    uint64_t pio;              /* port I/O accesses (each element of REP INS/OUTS) */
    uint64_t mmio;             /* accesses to MMIO devices (the bus) */
    uint64_t apic;             /* accesses to the local APIC page */
    uint64_t halts;            /* HLT instructions run */
    uint64_t exits;            /* returns from vcpu_run to the VM's loop */
};

struct emu_profile;

struct tlb_entry {
    uint64_t vpn; /* emu_tlb_tag(); 0 marks an empty entry */
    /* The host address of the page's RAM less the page's linear address:
     * the host address of a byte is addend + linear, one add in translated
     * code instead of taking the offset in the page and adding it. */
    uintptr_t addend;
    uint64_t gpa;  /* guest-physical page address */
    bool global;   /* a global page's, with CR4.PGE set: valid for every PCID */
    bool ram;      /* false for MMIO (addend unset) */
    uint8_t shift; /* log2 of the size of the page it is part of */
};

/* Host address of linear through its entry e (e->ram). */
static inline uint8_t *emu_tlb_host(const struct tlb_entry *e, uint64_t linear)
{
    return (uint8_t *)(e->addend + (uintptr_t)linear);
}

/* The slot of linear page number vpn in each access kind's entries. By the
 * page number alone, pages 1 MiB apart (a process's stack and heap, or two
 * buffers) took the same slot, and which did followed the guest's address
 * randomization: one bench/user run walked the page tables 2.7 M times,
 * another 38 M. The next byte of the page number spreads them; pages next
 * to each other still get different slots (vpn + 1 moves the sum by 1, 2
 * or 3), which translated code's page-crossing test relies on. */
static inline unsigned emu_tlb_index(uint64_t vpn)
{
    return (unsigned)((vpn + (vpn >> 8)) % TLB_SIZE);
}

/* A TLB entry's tag: the linear page number and whether it was checked
 * for a user-mode (CPL 3) access, plus one so that no tag is 0. */
static inline uint64_t emu_tlb_tag(uint64_t linear, int cpl)
{
    return (((linear >> 12) << 1) | (cpl == 3)) + 1;
}

/*
 * The TLB (mmu.c; SDM Vol. 3A §4.10): per PCID, a context of entries for
 * each access kind, direct-mapped by page number. The current PCID is
 * CR3[11:0] with CR4.PCIDE set, 0 otherwise (§4.10.1).
 *
 * Hit test (translate() in mmu.c, uop_tlb_hit in uop.h, and any machine
 * code that inlines it): with e = &cpu->tlb_cur[acc][emu_tlb_index(linear
 * >> 12)], the access hits iff e->vpn == emu_tlb_tag(linear, cpl), and
 * then emu_tlb_host(e, linear) is the byte: only pages of RAM are kept. Anything else goes
 * to the full path (emu_read_lin and friends), which walks and fills.
 * cpu->tlb_cur points at the current PCID's context; it changes only in
 * MOV to CR3 (and when the vCPU's state is set from outside the guest), so
 * code may hold it until an instruction that writes CR3 ends.
 *
 * A context keeps its entries while other PCIDs are current (CR3 writes
 * with bit 63 set keep them even for the PCID they load). Global entries
 * (G set, CR4.PGE set) are valid in every context: each is kept in
 * tlb_global too, where a miss in any context finds it before walking.
 * An entry is for 4 KiB, also when it is part of a larger page; INVLPG
 * drops all of such a page's entries, found by scanning the contexts whose
 * large-page entries span the address (large_lo to large_hi).
 * Invalidations (emu_tlb_flush*) follow §4.10.4.1: what they leave is
 * what the architecture allows a TLB to keep.
 */
struct emu_tlb_ctx {
    struct tlb_entry e[3][TLB_SIZE]; /* [enum emu_access][emu_tlb_index(vpn)] */
    uint16_t pcid;
    uint64_t used; /* LRU stamp: the victim for a PCID without a context is the oldest */
    /* map_epoch values (see struct emu_cpu) are per context slot: slot i's
     * are i << 56 and up. epoch is the last one this slot used; resume says
     * the block links made under it still hold (mmu.c, switch_context), for
     * code running in the mode it left in (mode_key). */
    uint64_t epoch;
    bool resume;
    uint64_t mode_key[2];
    uint64_t large_lo, large_hi; /* linear addresses of its large-page entries; lo > hi: none */
};

struct emu_msrs {
    uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t tsc_aux, pat, apic_base, misc_enable, tsc_offset, tsc_adjust;
    /* Memory type ranges: stored for the guest, no effect on emulation. */
    uint64_t mtrr_def_type, mtrr_var[16], mtrr_fixed[11];
    uint64_t mcg_status;
    uint64_t spec_ctrl;                       /* stored only: no predictor to restrict */
    uint64_t kvm_system_time, kvm_wall_clock; /* kvmclock.c */
};

struct emu_cpu {
    /* Architectural state. */
    uint64_t gpr[16];
    uint64_t rip, rflags;
    struct cpu_segment seg[SEG_COUNT], ldt, tr;
    struct cpu_dtable gdt, idt;
    uint64_t cr0, cr2, cr3, cr4, cr8, efer, xcr0;
    /* Protection-key rights (SDM Vol. 3A §4.6.2): PKRU for user pages,
     * IA32_PKRS for supervisor pages. */
    uint32_t pkru, pkrs;
    struct emu_msrs msr;
    uint8_t fxsave[512] __attribute__((aligned(16)));
    /* Bits 255:128 of YMM0-15 (XSAVE component 2, SDM Vol. 1 §13.5.3);
     * bits 127:0 are the XMM registers in fxsave. */
    uint8_t ymmh[16][16] __attribute__((aligned(16)));
    bool halted;
    bool intr_shadow; /* the instruction after MOV SS / STI cannot be interrupted */
    uint64_t dr[4], dr6, dr7;
    /* NMI blocking (SDM Vol. 3A §6.7.1): from an NMI's delivery to the next
     * IRET. NMIs that come meanwhile wait in nmi_pending: one while an NMI
     * is blocked (they collapse, as on hardware), two otherwise (two may
     * arrive from different sources before the first is taken; KVM keeps
     * them so too). */
    bool nmi_blocked;
    uint8_t nmi_pending;

    /* Debug state (debug.c), derived or per instruction. */
    uint8_t bp_exec, bp_data, bp_io; /* enabled DR0-3 breakpoints of each kind */
    uint8_t db_hits;                 /* data and I/O breakpoints this instruction hit */
    bool db_shadow;                  /* this instruction was MOV SS or POP SS */
    uint8_t db_soft;                 /* DB_SOFT_*: it delivered a software interrupt */
    bool exc_no_rf;                  /* the fault being raised pushes RF as it is */
    uint64_t db_pending;             /* DR6 bits of traps held over a MOV SS */
    uint64_t db_due;                 /* DR6 bits of a trap due before the next instruction */

    /* Derived from the state above by emu_update_mode(). */
    int cpl;
    int code_bits;       /* 16, 32 or 64 */
    uint8_t decode_mode; /* EMU_DECODE_MODE(): how code at CS:RIP decodes */

    /* The instruction being executed; decoded points into the decode cache
     * (interp/decode.c), read-only. */
    uint64_t insn_rip; /* its first byte */
    uint64_t next_rip;
    struct emu_decoded *decoded;
    struct emu_decode_cache *dcache;
    struct emu_block_cache *blocks; /* block.c */
    struct emu_jit *jit;            /* jit/: NULL when the translator is off */
    int32_t jit_budget;             /* instructions translated code may still run */
    uint64_t jit_ctx, jit_ctx_g;    /* jit/internal.h: the jump cache's contexts */
    uint32_t jit_host_mxcsr;        /* the host's MXCSR, for translated code */
    /* Bumped whenever linear-to-physical mappings or the mode may change
     * (TLB flushes, emu_update_mode, a block cache flush): block links
     * made under another epoch are not followed. A CR3 write that changes
     * the PCID moves it to the new context's values (struct emu_tlb_ctx). */
    uint64_t map_epoch;
    /* Bumped as map_epoch, but not by invalidations that keep global TLB
     * entries (a CR3 write, INVPCID of one context): what holds for code
     * on a global page (the jump cache's entries) may hold across those.
     * Only moves forward. */
    uint64_t global_epoch;
    /* The linear pages (a filter of 4,096 bits, by a hash of the page
     * number) of code that something valid under global_epoch was made
     * for: the jump cache's entries for code on global pages. An
     * invalidation of one page moves global_epoch only if the filter has
     * that page (Linux's INVLPGs, of user pages mostly, made every
     * kernel entry of the jump cache stale: 2 million revalidations in
     * bench/user's run); each move empties it. */
    uint64_t global_code[64];
    bool fetch_global; /* emu_fetch_host's page was global (lookup's block's) */
    uint64_t link_cs_base; /* CS when emu_update_mode last bumped map_epoch */
    uint32_t link_cs_limit;
    bool code_changed; /* this vCPU stored to a page holding decoded code */
    /* The last pass of emu_run ran its whole budget, so it ended at an
     * arbitrary instruction rather than at an exception, an event or a
     * HLT: where profile.c prefers to sample. */
    bool pass_full;

    /* Exceptions: emu_raise() records one and jumps to fault_jmp. */
    jmp_buf fault_jmp;
    int exc_vector, exc_error;
    int delivering; /* vector being delivered, -1 if none: for #DF */
    bool triple_fault;

    struct tlb_entry (*tlb_cur)[TLB_SIZE]; /* the current context's e (see struct emu_tlb_ctx) */
    struct emu_tlb_ctx *tlb_ctx;           /* the current context */
    uint64_t tlb_clock;                    /* LRU stamps */
    struct emu_tlb_ctx tlb[TLB_CONTEXTS];
    struct emu_tlb_ctx tlb_global; /* only e and large_lo/hi are used */

    struct vm *vm;
    struct emu_vm *evm;
    int index;
    atomic_bool kicked;
    atomic_bool wake;     /* the irqchip has news for this vCPU: poll it */
    bool wait_sipi;       /* an AP before its start-up IPI, or after INIT */
    bool irq_blocked;     /* an interrupt waits for RFLAGS.IF */
    uint64_t deadline;    /* CLOCK_MONOTONIC ns of the next timer event */
    pthread_mutex_t lock; /* with wake: sleeping in HLT */
    pthread_cond_t wake_cond;
    struct accel_exit *exit;
    bool trace; /* VX86_EMU_TRACE set */
    /* Between emu_exec_start and emu_exec_end: running guest instructions,
     * which an exclusive section waits for (engine.c). */
    atomic_bool running;
    bool exclusive; /* inside its own exclusive section */
    /* For a harness that bounds a run by work instead of by a clock
     * (tests/fuzz/fuzz_emu.c). passes counts the passes of emu_run's loop
     * (each runs up to EMU_LIMITED_PASS instructions, or delivers one
     * exception, or polls events once). With pass_limit non-zero, emu_run
     * returns ACCEL_EXIT_INTR once passes reaches it and where it would
     * sleep (HLT, wait-for-SIPI), polls events every pass instead of
     * reading the host clock for the deadline, and a REP string
     * instruction runs at most EMU_LIMITED_PASS elements per step. 0: no
     * limit. */
    uint64_t passes, pass_limit;
    uint32_t pauses; /* PAUSEs run: every EMU_PAUSE_YIELD-th gives the host CPU away */

    /* Kept last: the fields above are the interpreter's hot ones. */
    struct emu_stats stats;
    struct emu_profile *prof; /* profile.c; NULL unless --profile */
    struct fpu_page *fpu;     /* fpu_slot.c: host code for x87/SSE (NULL: none) */
};

/* interrupt.c */
__attribute__((noreturn)) void emu_raise(struct emu_cpu *cpu, int vector, int error);
/* Delivers the exception recorded by emu_raise (or an interrupt/INT n):
 * soft is true for INT n/INT3/INTO, whose return address is next_rip. */
void emu_deliver(struct emu_cpu *cpu, int vector, int error, bool soft);
void emu_iret(struct emu_cpu *cpu, int opsize);
/* After a return to an outer privilege level (IRET, far RET): ES, DS, FS
 * and GS holding segments the new CPL may not use become null (SDM RET). */
void emu_null_inner_segments(struct emu_cpu *cpu);
void emu_syscall(struct emu_cpu *cpu);
void emu_sysret(struct emu_cpu *cpu, int opsize);
void emu_sysenter(struct emu_cpu *cpu);
void emu_sysexit(struct emu_cpu *cpu, int opsize);

/* mmu.c: the TLB (SDM Vol. 3A §4.10.4). Each invalidation bumps map_epoch. */
/* Every context's entries, the global ones too with include_global (INVPCID
 * types 2 and 3, CR0/CR4/EFER changes); the current context is re-keyed to
 * the current PCID, which a CR4.PCIDE change may have changed. */
void emu_tlb_flush(struct emu_cpu *cpu, bool include_global);
/* INVLPG: linear's page in the current PCID, and its global entries in all. */
void emu_tlb_flush_page(struct emu_cpu *cpu, uint64_t linear);
/* INVPCID type 1: pcid's non-global entries. */
void emu_tlb_flush_pcid(struct emu_cpu *cpu, uint16_t pcid);
/* INVPCID type 0: pcid's non-global entries for linear's page. */
void emu_tlb_flush_pcid_page(struct emu_cpu *cpu, uint16_t pcid, uint64_t linear);
/* MOV to CR3 after its checks: cr3 (bit 63 clear) becomes CR3 and its PCID
 * current; the PCID's non-global entries are dropped unless keep (bit 63
 * of the value written, with CR4.PCIDE). */
void emu_tlb_load_cr3(struct emu_cpu *cpu, uint64_t cr3, bool keep);
/* Set PKRU (WRPKRU, XRSTOR) and IA32_PKRS (WRMSR); the TLB, which caches
 * protection-key verdicts, is emptied when one changes. */
void emu_set_pkru(struct emu_cpu *cpu, uint32_t v);
void emu_set_pkrs(struct emu_cpu *cpu, uint32_t v);
uint64_t emu_read_lin(struct emu_cpu *cpu, uint64_t linear, unsigned size, enum emu_access acc,
                      int cpl);
void emu_write_lin(struct emu_cpu *cpu, uint64_t linear, uint64_t value, unsigned size, int cpl);
/* Host address of the code byte at linear (translated for fetch), or NULL
 * when it is not RAM. Raises #PF. */
uint8_t *emu_fetch_host(struct emu_cpu *cpu, uint64_t linear);
/* emu_fetch_host for the page after an instruction's first byte: NULL
 * when it is not RAM or does not translate (no fault raised: the decoder
 * may not need it). */
uint8_t *emu_fetch_host_next(struct emu_cpu *cpu, uint64_t linear);
/* Reads up to len code bytes at linear; returns how many could be read
 * (faulting only if not even the first byte can). */
unsigned emu_fetch(struct emu_cpu *cpu, uint64_t linear, uint8_t *buf, unsigned len);

/* Host address of len bytes at seg:offset, checked and translated for
 * reading or writing (then counted as a store for the decode caches), or
 * NULL when they are not in one page of RAM. Raises #GP, #SS, #PF. Used for
 * atomic read-modify-writes and bulk string moves. */
uint8_t *emu_host_range(struct emu_cpu *cpu, int seg, uint64_t offset, unsigned len, bool write);

/* Host address of the len bytes at seg:offset for a locked read-modify-
 * write: checked and translated for writing, both pages when they cross one
 * (faults raised before the caller writes anything), counted as a store for
 * the decode caches; NULL unless they are RAM contiguous in the host (one
 * page, or two that are adjacent in vx86's mapping of guest RAM). */
uint8_t *emu_host_atomic(struct emu_cpu *cpu, int seg, uint64_t offset, unsigned len);

/* Segmented access (limit, rights, canonical checks) then linear. */
uint64_t emu_linear(struct emu_cpu *cpu, int seg, uint64_t offset, unsigned size, bool write);
uint64_t emu_read(struct emu_cpu *cpu, int seg, uint64_t offset, unsigned size);
void emu_write(struct emu_cpu *cpu, int seg, uint64_t offset, uint64_t value, unsigned size);

/* Stack: push/pop with the stack's address size. */
void emu_push(struct emu_cpu *cpu, uint64_t value, unsigned size);
uint64_t emu_pop(struct emu_cpu *cpu, unsigned size);
/* emu_pop in two steps, so that a check between them can fault with RSP
 * unchanged: the value on top of the stack, then RSP moved up by bytes. */
uint64_t emu_stack_top(struct emu_cpu *cpu, unsigned size);
void emu_stack_drop(struct emu_cpu *cpu, uint64_t bytes);

/* debug.c: debug registers, breakpoints and single-step (SDM Vol. 3B ch. 17). */
enum { DB_SOFT_NONE, DB_SOFT_INT, DB_SOFT_ICEBP };
/* True when instructions must run one at a time through emu_debug_step:
 * TF or RF set, a breakpoint enabled, or a trap held over MOV SS. TF and RF
 * only change in instructions that end a block, so the block loop reads
 * this once per block. */
static inline bool emu_debug_on(const struct emu_cpu *cpu)
{
    return (cpu->rflags & (RFLAGS_TF | RFLAGS_RF)) | cpu->bp_exec | cpu->bp_data | cpu->bp_io |
           cpu->db_pending | cpu->db_due;
}
/* Recomputes bp_* from DR7 and CR4.DE; after either changes. */
void emu_debug_update(struct emu_cpu *cpu);
/* A #DB: B0-B3 say which breakpoints matched, and only those (the other DR6
 * bits stay as they were); DR7.GD clears so the handler can use the debug
 * registers (SDM Vol. 3B §17.2.3, §17.2.4). */
void emu_debug_report(struct emu_cpu *cpu, uint64_t bits);
/* A data access of size bytes at linear; records the data breakpoints it
 * hits. Call only when cpu->bp_data. */
void emu_debug_watch(struct emu_cpu *cpu, uint64_t linear, unsigned size, bool write);
/* Port I/O of size bytes at port; records the I/O breakpoints it hits. Call
 * only when cpu->bp_io. */
void emu_debug_io(struct emu_cpu *cpu, uint16_t port, unsigned size);
/* ICEBP (INT1, F1): a #DB trap delivered like a hardware exception, with no
 * gate DPL check and DR6 unchanged (SDM Vol. 3A §6.15, Interrupt 1). */
void emu_icebp(struct emu_cpu *cpu);

/* mode.c */
/* #GP(0) unless CPL <= IOPL or the TSS I/O bitmap allows all size bytes at port. */
void emu_check_io(struct emu_cpu *cpu, uint16_t port, unsigned size);
/* Derives cpl, code_bits and decode_mode from the state (CR0, EFER,
 * RFLAGS.VM, CS, SS); after any of them changes. */
void emu_update_mode(struct emu_cpu *cpu);

/* segment.c, msr.c, cpuid.c */
/* Loads a segment register by selector, with the checks of MOV/POP sreg. */
void emu_load_seg(struct emu_cpu *cpu, int seg, uint16_t selector);
/* Reads the 8-byte descriptor for selector (GDT or LDT); raises #GP(sel) beyond the limit. */
uint64_t emu_read_descriptor(struct emu_cpu *cpu, uint16_t selector, int vector);
void emu_seg_from_descriptor(struct cpu_segment *s, uint16_t selector, uint64_t desc);
uint64_t emu_rdmsr(struct emu_cpu *cpu, uint32_t index);
void emu_wrmsr(struct emu_cpu *cpu, uint32_t index, uint64_t value);
void emu_cpuid(struct emu_cpu *cpu);

/* A write of len bytes at host address p in guest RAM, within one page
 * (inline: on every store): drops that page's decoded instructions if the
 * write reaches a line they came from. */
static inline void emu_code_written(struct emu_cpu *cpu, const uint8_t *p, unsigned len);

/* interp/exec.c's run loop, and translated code's REP string instructions. */
#define EMU_LIMITED_PASS 16 /* instructions per pass, REP elements per step, with a pass_limit */

/* interrupt.c: delivery by kind, each with its #DF bookkeeping (delivering). */
/* The exception emu_raise recorded (vector, error), at the faulting
 * instruction: makes it #DF or a triple fault as SDM Vol. 3A Table 6-5
 * says, given the delivery it interrupted. */
void emu_deliver_fault(struct emu_cpu *cpu, int vector, int error);
/* INT n, INTO: delivers vector with the return address after the instruction. */
void emu_soft_interrupt(struct emu_cpu *cpu, int vector);
/* An external interrupt or NMI, between instructions. */
void emu_external_interrupt(struct emu_cpu *cpu, int vector);
/*
 * engine.c: exclusive sections, QEMU's start_exclusive: one vCPU runs while
 * every other one is stopped at an instruction boundary. A vCPU runs guest
 * instructions only between emu_exec_start and emu_exec_end (emu_run);
 * emu_exec_start waits while another vCPU's section is pending.
 * emu_start_exclusive, from inside an instruction, makes the others leave
 * their blocks (through their wake flag) and waits until none runs;
 * emu_end_exclusive lets them go on, and does nothing outside a section
 * (fault entry calls it for an instruction that faulted inside one).
 * Devices go on meanwhile: a section is not atomic against their DMA.
 */
void emu_exec_start(struct emu_cpu *cpu);
void emu_exec_end(struct emu_cpu *cpu);
void emu_start_exclusive(struct emu_cpu *cpu);
void emu_end_exclusive(struct emu_cpu *cpu);

/* events.c: between instructions. The TSC runs at EMU_TSC_HZ from
 * CLOCK_MONOTONIC (advertised in CPUID 15H/16H). */
#define EMU_TSC_HZ 1000000000ULL
uint64_t emu_now_ns(void);
uint64_t emu_tsc(const struct emu_cpu *cpu);
/* Takes start-up IPIs, NMIs and interrupts that are due; returns false
 * when the vCPU cannot run (halted or waiting for SIPI) and slept instead. */
bool emu_events(struct emu_cpu *cpu);
/* True when the run loop must look up before the next instruction: a kick
 * (the VM stops), irqchip news, or an interrupt waiting for RFLAGS.IF or
 * an NMI for the end of an interrupt shadow. */
static inline bool emu_events_due(struct emu_cpu *cpu)
{
    return atomic_load_explicit(&cpu->wake, memory_order_relaxed) ||
           atomic_load_explicit(&cpu->kicked, memory_order_relaxed) ||
           (((cpu->irq_blocked && (cpu->rflags & RFLAGS_IF)) ||
             (cpu->nmi_pending && !cpu->nmi_blocked)) &&
            !cpu->intr_shadow);
}
/*
 * profile.c: `vx86 run --profile` (docs/profiling.md). A vCPU samples
 * itself: emu_events calls emu_profile_tick first (a sample of RIP, CPL and
 * mode when the sampling period has passed; a phase snapshot of the
 * counters every EMU_PROFILE_PHASE_NS) and emu_profile_deadline last (so
 * that the next sample ends a pass or a sleep in time). Both only where
 * cpu->prof is set; without --profile nothing runs but the counters.
 */
#define EMU_PROFILE_PERIOD_NS 1000000ULL   /* 1 ms of host time between samples */
#define EMU_PROFILE_PHASE_NS  100000000ULL /* 100 ms phases */
/* At vCPU creation, when the VM's configuration asks for a profile. */
int emu_profile_init(struct emu_cpu *cpu);
void emu_profile_free(struct emu_cpu *cpu);
void emu_profile_tick(struct emu_cpu *cpu);
void emu_profile_deadline(struct emu_cpu *cpu);

/* kvmclock.c: writes the vCPU's pvclock structure if the guest enabled it. */
void emu_kvmclock_publish(struct emu_cpu *cpu);
/* Writes the wall clock at boot into gpa (MSR_KVM_WALL_CLOCK_NEW). */
void emu_kvmclock_wall(struct emu_cpu *cpu, uint64_t gpa);

/* engine.c: the reset state (SDM Vol. 3A Table 9-1), for INIT. */
void emu_reset(struct emu_cpu *cpu);

/* The FPU unit (accel/emu/fpu.c), which is also the interpreter's: the
 * FPU/SSE state and XCR0 at power-on and reset. */
void emu_fpu_reset(struct emu_cpu *cpu);
/* Adds the FPU group's CPUID bits to leaf/subleaf's a, b, c, d (leaves 1, 7, 0DH). */
void emu_fpu_cpuid(const struct emu_cpu *cpu, uint32_t leaf, uint32_t subleaf, uint32_t *a,
                   uint32_t *b, uint32_t *c, uint32_t *d);

/* task.c: far JMP/CALL to a system descriptor (call gate, task gate, TSS);
 * false if sel names a code segment. */
bool emu_far_system(struct emu_cpu *cpu, uint16_t sel, bool call);
/* IRET with EFLAGS.NT: back to the task in the TSS's back link. */
void emu_task_return(struct emu_cpu *cpu);
/* An interrupt or exception through a task gate. */
void emu_task_gate_interrupt(struct emu_cpu *cpu, uint16_t tss_sel, int error);

static inline uint64_t emu_mask(unsigned size)
{
    return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

/* The key under which the decode cache and the block cache keep code at
 * host address host: the address and the decode mode it was decoded in
 * (never 0, which marks an empty entry). */
static inline uint64_t emu_code_key(const struct emu_cpu *cpu, const uint8_t *host)
{
    return (((uint64_t)(uintptr_t)host << 5) | cpu->decode_mode) + 1;
}

/* The guest RAM page holding host address p. */
static inline uint64_t emu_code_page(const struct emu_cpu *cpu, const uint8_t *p)
{
    return (uint64_t)(p - cpu->evm->base) >> 12;
}

/* The page's generation: cached code from it is valid while it stays. */
static inline uint32_t emu_code_gen(const struct emu_cpu *cpu, uint64_t page)
{
    return atomic_load_explicit(&cpu->evm->gen[page], memory_order_acquire);
}

/* The mask of a page's 64-byte lines that bytes [off, off + len) touch
 * (len > 0, off + len <= 4096). */
static inline uint64_t emu_code_lines(unsigned off, unsigned len)
{
    return ((2ULL << ((off + len - 1) >> 6)) - 1) & ~((1ULL << (off >> 6)) - 1);
}

/* Before decoding bytes [off, off + len) of page: marks their lines as
 * holding code, so that a store racing with the decode bumps the
 * generation returned here and what is decoded is not trusted again. */
static inline uint32_t emu_code_watch(struct emu_cpu *cpu, uint64_t page, unsigned off,
                                      unsigned len)
{
    uint64_t lines = emu_code_lines(off, len);

    if ((atomic_load_explicit(&cpu->evm->code[page], memory_order_relaxed) & lines) != lines)
        atomic_fetch_or_explicit(&cpu->evm->code[page], lines, memory_order_relaxed);
    return emu_code_gen(cpu, page);
}

/* A write of len bytes at host address p in guest RAM, within one page, by
 * a vCPU or a device: bumps the page's generation if the write reaches a
 * line decoded code came from, and says so. Every block and decode of the
 * page goes with the bump, so no line of it needs watching until code
 * there is decoded again. */
static inline bool emu_code_store(struct emu_vm *e, const uint8_t *p, unsigned len)
{
    uint64_t page = (uint64_t)(p - e->base) >> 12;
    unsigned off = (unsigned)((uint64_t)(p - e->base) & 0xfff);

    if (!(atomic_load_explicit(&e->code[page], memory_order_relaxed) & emu_code_lines(off, len)))
        return false;
    atomic_store_explicit(&e->code[page], 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->gen[page], 1, memory_order_release);
    return true;
}

static inline void emu_code_written(struct emu_cpu *cpu, const uint8_t *p, unsigned len)
{
    if (emu_code_store(cpu->evm, p, len))
        cpu->code_changed = true;
}

static inline unsigned emu_global_code_bit(uint64_t linear)
{
    uint64_t vpn = linear >> 12;

    return (unsigned)((vpn ^ vpn >> 12) & 4095);
}

/* Code at linear is cached under global_epoch (struct emu_cpu). */
static inline void emu_global_code_note(struct emu_cpu *cpu, uint64_t linear)
{
    unsigned bit = emu_global_code_bit(linear);

    cpu->global_code[bit / 64] |= 1ULL << (bit % 64);
}

static inline bool emu_global_code_noted(const struct emu_cpu *cpu, uint64_t linear)
{
    unsigned bit = emu_global_code_bit(linear);

    return cpu->global_code[bit / 64] >> (bit % 64) & 1;
}

/* A 48-bit canonical address: bits 63-47 all equal. */
static inline bool emu_canonical(uint64_t a)
{
    return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

static inline bool emu_long_mode(const struct emu_cpu *cpu)
{
    return cpu->efer & EFER_LMA;
}

#endif
