/*
 * Descriptors, the 32-bit TSS and ring changes for 32-bit protected-mode
 * test guests (multiboot). Encodings follow the Intel SDM Vol. 3A.
 */
#ifndef GUEST_DESC32_H
#define GUEST_DESC32_H

#include <stdint.h>

/* Access byte, descriptor bits 40-47 (SDM Vol. 3A §3.4.5, Figure 3-8). */
#define DESC_P       0x80u
#define DESC_DPL(n)  ((unsigned)(n) << 5)
#define DESC_S       0x10u /* code or data; clear for system descriptors */
#define DESC_CODE_RX 0x0au
#define DESC_DATA_RW 0x02u

/* System descriptor and gate types (SDM Vol. 3A §3.5, Table 3-2). */
#define SYS_LDT         0x2u
#define SYS_TASK_GATE   0x5u
#define SYS_TSS32       0x9u
#define SYS_TSS32_BUSY  0xbu
#define SYS_CALL_GATE32 0xcu
#define SYS_INTR_GATE32 0xeu
#define SYS_TRAP_GATE32 0xfu

/* Flags nibble, descriptor bits 52-55: granularity, default size, 64-bit code. */
#define DESC_G  0x8u
#define DESC_DB 0x4u
#define DESC_L  0x2u

/* The type field of a descriptor (bits 40-43) and its busy bit for TSSs. */
#define DESC_TYPE(d)  ((unsigned)((d) >> 40) & 0xfu)
#define DESC_TSS_BUSY (1ull << 41)

/* A selector's TI bit: 1 selects the LDT (SDM Vol. 3A §3.4.2). */
#define SEL_TI 4u

/* A code, data, TSS or LDT descriptor; limit is in units of 4 KiB with DESC_G. */
static inline uint64_t desc_seg(uint32_t base, uint32_t limit, unsigned access, unsigned flags)
{
    return (uint64_t)(limit & 0xffff) | (uint64_t)(base & 0xffffff) << 16 |
           (uint64_t)(access & 0xff) << 40 | (uint64_t)(limit >> 16 & 0xf) << 48 |
           (uint64_t)(flags & 0xf) << 52 | (uint64_t)(base >> 24) << 56;
}

/* A call, interrupt, trap or task gate (SDM Vol. 3A §5.8.3, Figure 5-8, and
 * §6.11, Figure 6-2); params is a call gate's dword count to copy. */
static inline uint64_t desc_gate(uint16_t sel, uint32_t offset, unsigned access, unsigned params)
{
    return (uint64_t)(offset & 0xffff) | (uint64_t)sel << 16 | (uint64_t)(params & 0x1f) << 32 |
           (uint64_t)(access & 0xff) << 40 | (uint64_t)(offset >> 16) << 48;
}

/* A 32-bit TSS (SDM Vol. 3A §8.2.1, Figure 8-2). An I/O permission bitmap,
 * if any, follows at iomap_base. */
struct __attribute__((packed)) tss32 {
    uint16_t link, reserved0;
    uint32_t esp0;
    uint16_t ss0, reserved1;
    uint32_t esp1;
    uint16_t ss1, reserved2;
    uint32_t esp2;
    uint16_t ss2, reserved3;
    uint32_t cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
    uint16_t es, reserved4, cs, reserved5, ss, reserved6, ds, reserved7;
    uint16_t fs, reserved8, gs, reserved9, ldt, reserved10;
    uint16_t trap, iomap_base;
};

/* Loads the GDT (entries descriptors at gdt), then CS with cs and DS, ES, FS,
 * GS and SS with ds. */
void gdt32_load(const uint64_t *gdt, unsigned entries, uint16_t cs, uint16_t ds);

/*
 * Leaves CPL 0 with IRET to the frame of words dwords at frame, frame[0]
 * being EIP: EIP, CS, EFLAGS, ESP, SS for an outer ring, then ES, DS, FS, GS
 * for virtual-8086 mode (SDM Vol. 3A §6.12.1, Figure 6-4, and §20.3.1.1).
 * Returns what ring32_leave() is given, which a handler of an exception or
 * interrupt from that code calls; the TSS's ESP0 must lie off the stack
 * ring32_enter() was called on. One at a time: not reentrant.
 */
uint32_t ring32_enter(const uint32_t *frame, unsigned words);
__attribute__((noreturn)) void ring32_leave(uint32_t value);

/* EFLAGS bits that x86.h does not name (SDM Vol. 1 §3.4.3). */
#define EFLAGS_CF     (1u << 0)
#define EFLAGS_FIXED  (1u << 1)
#define EFLAGS_PF     (1u << 2)
#define EFLAGS_AF     (1u << 4)
#define EFLAGS_ZF     (1u << 6)
#define EFLAGS_SF     (1u << 7)
#define EFLAGS_OF     (1u << 11)
#define EFLAGS_IOPL_3 (3u << 12)
#define EFLAGS_NT     (1u << 14)
#define EFLAGS_RF     (1u << 16)
#define EFLAGS_VM     (1u << 17)

#endif
