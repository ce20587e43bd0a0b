/*
 * Architectural names and accessors for test guests, usable from 32-bit and
 * 64-bit code. Names and values follow the Intel SDM.
 */
#ifndef GUEST_X86_H
#define GUEST_X86_H

#include <stdint.h>

/* Control registers (SDM Vol. 3A §2.5). */
#define CR0_PE    (1ul << 0)
#define CR0_WP    (1ul << 16)
#define CR0_PG    (1ul << 31)
#define CR4_PAE   (1ul << 5)
#define CR4_PCIDE (1ul << 17)

/* MSRs (SDM Vol. 4, Table 2-2). */
#define MSR_EFER   0xc0000080u
#define MSR_STAR   0xc0000081u
#define MSR_LSTAR  0xc0000082u
#define MSR_SFMASK 0xc0000084u
#define EFER_SCE   (1ull << 0)
#define EFER_LME   (1ull << 8)
#define EFER_LMA   (1ull << 10)

/* RFLAGS (SDM Vol. 1 §3.4.3). */
#define RFLAGS_TF   (1ul << 8)
#define RFLAGS_IF   (1ul << 9)
#define RFLAGS_DF   (1ul << 10)
#define RFLAGS_IOPL (3ul << 12)
#define RFLAGS_AC   (1ul << 18)

/* Exception vectors (SDM Vol. 3A §6.3.1, Table 6-1). */
#define EXC_DE 0
#define EXC_UD 6
#define EXC_DF 8
#define EXC_GP 13
#define EXC_PF 14

/* #PF error code (SDM Vol. 3A §4.7, Figure 4-12). */
#define PF_P (1u << 0)
#define PF_W (1u << 1)
#define PF_U (1u << 2)

/* A segment selector's requested privilege level, which for CS is the CPL. */
#define SEL_RPL(sel) ((sel)&3u)

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;

    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint16_t inw(uint16_t port)
{
    uint16_t v;

    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint32_t inl(uint16_t port)
{
    uint32_t v;

    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline unsigned long read_cr0(void)
{
    unsigned long v;

    __asm__ volatile("mov %%cr0, %0" : "=r"(v));
    return v;
}

static inline void write_cr0(unsigned long v)
{
    __asm__ volatile("mov %0, %%cr0" : : "r"(v) : "memory");
}

static inline unsigned long read_cr2(void)
{
    unsigned long v;

    __asm__ volatile("mov %%cr2, %0" : "=r"(v));
    return v;
}

static inline unsigned long read_cr3(void)
{
    unsigned long v;

    __asm__ volatile("mov %%cr3, %0" : "=r"(v));
    return v;
}

/* Also flushes the non-global TLB entries. */
static inline void write_cr3(unsigned long v)
{
    __asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}

static inline unsigned long read_cr4(void)
{
    unsigned long v;

    __asm__ volatile("mov %%cr4, %0" : "=r"(v));
    return v;
}

static inline void write_cr4(unsigned long v)
{
    __asm__ volatile("mov %0, %%cr4" : : "r"(v) : "memory");
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    __asm__ volatile("cpuid"
                     : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
                     : "a"(leaf), "c"(sub));
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;

    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (uint64_t)hi << 32 | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline void invlpg(const volatile void *p)
{
    __asm__ volatile("invlpg (%0)" : : "r"(p) : "memory");
}

static inline uint16_t read_cs(void)
{
    uint16_t v;

    __asm__ volatile("mov %%cs, %0" : "=r"(v));
    return v;
}

static inline unsigned long read_flags(void)
{
    unsigned long v;

    __asm__ volatile("pushf; pop %0" : "=r"(v));
    return v;
}

#endif
