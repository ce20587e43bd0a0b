/*
 * The state a PC BIOS leaves behind for the program it boots, for kernels
 * that may rely on it: multiboot kernels (which can drop back to real mode,
 * as kvm-unit-tests' realmode does) and flat real-mode binaries. On a PC,
 * SeaBIOS (QEMU's BIOS) has done this before its multiboot option ROM or
 * boot sector runs; vx86 has no BIOS, so bios_state_write() sets up the
 * part of it that real-mode code can count on and no more:
 *
 *   - The 8259A pair initialised as the IBM PC/AT has it, IRQ0-7 on vectors
 *     0x08-0x0f and IRQ8-15 on 0x70-0x77, the slave on IR2, 8086 mode,
 *     every input masked but IRQ0 (the timer) and IRQ2 (the cascade).
 *     SeaBIOS also unmasks the RTC's and the PS/2 IRQs, whose handlers serve
 *     those devices; vx86's IVT has no such handlers, so they stay masked.
 *   - PIT channel 0 in mode 2 (rate generator) with a count of 0 (65536):
 *     IRQ0 at 1193182 / 65536 = 18.2 Hz.
 *   - The real-mode IVT: every vector an IRET, IRQ0's a timer handler that
 *     counts ticks in the BIOS data area, chains to INT 1Ch and sends EOI,
 *     the other IRQs' a handler that only sends EOI (to both PICs for the
 *     slave's), vectors 0x60-0x66 and 0x79 zero (left to programs, as the
 *     BIOS leaves them). There are no BIOS services: INT 10h, 13h, 15h and
 *     the others return at once.
 *   - The BIOS data area (IBM PC/AT Technical Reference, "BIOS data area";
 *     the fields SeaBIOS's struct bios_data_area_s names): COM1 at 0x3f8,
 *     the equipment word (x87, one serial port), 639 KiB of base memory and
 *     the segment of the 1 KiB EBDA above it (which the e820 map reserves;
 *     its contents are left alone, as a multiboot image or its information
 *     may lie there), and the timer tick count at 0x46c, started from the
 *     time of day as the RTC reads it.
 *
 * The handlers and the code that programs the devices live in the F000
 * segment, at the IBM PC BIOS's fixed addresses where it has them (INT 08h
 * at F000:FEA5, the dummy IRET at F000:FF53), which the memory map reports
 * reserved (e820.c). The devices are programmed by the guest CPU itself:
 * the boot vCPU starts at a stub there that writes the PICs and the PIT
 * with OUT instructions and then continues at the kernel's entry with the
 * registers the loader gave. That is how a BIOS does it, and on the kvm
 * engine the PIC and PIT are KVM's in-kernel ones, which only guest port
 * I/O (or KVM's whole-state ioctls) reaches: one path serves both engines.
 * The stub uses only MOV AL/OUT and a jump, whose encodings are the same in
 * 16- and 32-bit code, and leaves the flags alone.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "boot/boot.h"
#include "boot/layout.h"
#include "util/log.h"

#define BIOS_SEG 0xf000

/* Offsets in the F000 segment. */
#define OFF_HWIRQ_MASTER 0xf000
#define OFF_HWIRQ_SLAVE  0xf010
#define OFF_INIT         0xf020
#define OFF_INT08        0xfea5 /* IBM PC BIOS: the timer interrupt handler */
#define OFF_IRET         0xff53 /* IBM PC BIOS: the dummy interrupt handler */

#define VEC_IRQ0 0x08
#define VEC_IRQ8 0x70

/* The BIOS data area at 0x400. */
#define BDA_COM1       0x400
#define BDA_EBDA_SEG   0x40e
#define BDA_EQUIPMENT  0x410
#define BDA_BASE_MEM   0x413
#define BDA_TICKS      0x46c
#define EBDA_BASE      0x9fc00
#define EQUIP_X87      (1u << 1)
#define EQUIP_SERIAL_1 (1u << 9) /* bits 9-11: the number of serial ports */

/* Ticks a day at 18.2 Hz, 86400 * 1193180 / 65536 (SeaBIOS's TICKS_PER_DAY):
 * the tick count wraps to 0 there and the rollover byte goes up. */
#define TICKS_PER_DAY 0x1800b0u
#define PIT_TICK_HZ   1193180u
#define PIT_PERIOD    65536u

/* INT 08h, 16-bit code. The tick count's rollover compares its high word
 * with 0x18 and its low word with 0xb0 (TICKS_PER_DAY). */
static const uint8_t int08_handler[] = {
    0x1e,                               /* push ds */
    0x50,                               /* push ax */
    0x31, 0xc0,                         /* xor ax, ax */
    0x8e, 0xd8,                         /* mov ds, ax */
    0x83, 0x06, 0x6c, 0x04, 0x01,       /* add word [0x46c], 1 */
    0x83, 0x16, 0x6e, 0x04, 0x00,       /* adc word [0x46e], 0 */
    0x83, 0x3e, 0x6e, 0x04, 0x18,       /* cmp word [0x46e], 0x18 */
    0x72, 0x18,                         /* jb .chain */
    0x81, 0x3e, 0x6c, 0x04, 0xb0, 0x00, /* cmp word [0x46c], 0xb0 */
    0x72, 0x10,                         /* jb .chain */
    0xc7, 0x06, 0x6c, 0x04, 0x00, 0x00, /* mov word [0x46c], 0 */
    0xc7, 0x06, 0x6e, 0x04, 0x00, 0x00, /* mov word [0x46e], 0 */
    0xfe, 0x06, 0x70, 0x04,             /* inc byte [0x470] */
    0xcd, 0x1c,                         /* .chain: int 0x1c (the user's tick hook) */
    0xb0, 0x20,                         /* mov al, 0x20 (non-specific EOI) */
    0xe6, 0x20,                         /* out 0x20, al */
    0x58,                               /* pop ax */
    0x1f,                               /* pop ds */
    0xcf,                               /* iret */
};

static const uint8_t hwirq_master_handler[] = {
    0x50,       /* push ax */
    0xb0, 0x20, /* mov al, 0x20 */
    0xe6, 0x20, /* out 0x20, al */
    0x58,       /* pop ax */
    0xcf,       /* iret */
};

static const uint8_t hwirq_slave_handler[] = {
    0x50,       /* push ax */
    0xb0, 0x20, /* mov al, 0x20 */
    0xe6, 0xa0, /* out 0xa0, al */
    0xe6, 0x20, /* out 0x20, al */
    0x58,       /* pop ax */
    0xcf,       /* iret */
};

/* Port writes of the init stub, in order (8259A data sheet, "Initialization
 * Command Words"; 82C54 data sheet, "Control Word Format"). */
static const uint8_t init_writes[][2] = {
    {0x20, 0x11},     {0xa0, 0x11},     /* ICW1: edge triggered, cascade, ICW4 */
    {0x21, VEC_IRQ0}, {0xa1, VEC_IRQ8}, /* ICW2: vector bases */
    {0x21, 0x04},     {0xa1, 0x02},     /* ICW3: slave on IR2; slave ID 2 */
    {0x21, 0x01},     {0xa1, 0x01},     /* ICW4: 8086 mode */
    {0x21, 0xfa},     {0xa1, 0xff},     /* OCW1: IRQ0 and IRQ2 unmasked */
    {0x43, 0x34},                       /* PIT counter 0, LSB then MSB, mode 2, binary */
    {0x40, 0x00},     {0x40, 0x00},     /* count 0: 65536 */
};

#define NR_INIT_WRITES (sizeof(init_writes) / sizeof(init_writes[0]))
/* MOV AL + OUT per write, then at most 11 bytes to load EAX and jump. */
#define STUB_MAX (NR_INIT_WRITES * 4 + 11)
_Static_assert(OFF_INIT + STUB_MAX <= OFF_INT08, "the init stub overlaps INT 08h");

/* The init stub for cpu's mode; *len its length. */
static int build_stub(const struct cpu_state *cpu, uint8_t *code, size_t *len)
{
    bool real = !(cpu->cr0 & 1);
    size_t n = 0;

    for (size_t i = 0; i < NR_INIT_WRITES; i++) {
        code[n++] = 0xb0; /* mov al, imm8 */
        code[n++] = init_writes[i][1];
        code[n++] = 0xe6; /* out imm8, al */
        code[n++] = init_writes[i][0];
    }
    if (real) {
        /* o32 mov eax, imm32; jmp far cs:ip */
        uint32_t eax = (uint32_t)cpu->rax;

        if (cpu->rip > 0xffff)
            return -EINVAL;
        code[n++] = 0x66;
        code[n++] = 0xb8;
        memcpy(code + n, &eax, 4);
        n += 4;
        code[n++] = 0xea;
        code[n++] = (uint8_t)cpu->rip;
        code[n++] = (uint8_t)(cpu->rip >> 8);
        code[n++] = (uint8_t)cpu->cs.selector;
        code[n++] = (uint8_t)(cpu->cs.selector >> 8);
    } else {
        /* mov eax, imm32; jmp rel32 (EIP wraps at 4 GiB in 32-bit code) */
        uint32_t eax = (uint32_t)cpu->rax;
        uint32_t rel;

        if (!cpu->cs.db || cpu->cs.base != 0 || cpu->rip > 0xffffffffu)
            return -EINVAL;
        code[n++] = 0xb8;
        memcpy(code + n, &eax, 4);
        n += 4;
        rel = (uint32_t)cpu->rip - (uint32_t)(((uint32_t)BIOS_SEG << 4) + OFF_INIT + n + 5);
        code[n++] = 0xe9;
        memcpy(code + n, &rel, 4);
        n += 4;
    }
    *len = n;
    return 0;
}

static uint32_t ticks_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint32_t)((uint64_t)(ts.tv_sec % 86400) * PIT_TICK_HZ / PIT_PERIOD) % TICKS_PER_DAY;
}

static void set_vector(uint32_t *ivt, int v, uint16_t off)
{
    ivt[v] = (uint32_t)BIOS_SEG << 16 | off;
}

int bios_state_write(const struct guest_mem *mem, struct cpu_state *cpu)
{
    const uint64_t seg = (uint64_t)BIOS_SEG << 4;
    uint32_t ivt[256];
    uint16_t com1 = 0x3f8, equipment = EQUIP_X87 | EQUIP_SERIAL_1;
    uint16_t base_kb = EBDA_BASE / 1024, ebda_seg = EBDA_BASE >> 4;
    uint32_t ticks = ticks_now();
    uint8_t stub[STUB_MAX];
    size_t len;
    int err = build_stub(cpu, stub, &len);

    if (err) {
        log_err("BIOS state: the boot entry is neither real mode nor flat 32-bit code");
        return err;
    }
    for (int v = 0; v < 256; v++)
        set_vector(ivt, v, OFF_IRET);
    set_vector(ivt, VEC_IRQ0, OFF_INT08);
    for (int v = VEC_IRQ0 + 1; v < VEC_IRQ0 + 8; v++)
        set_vector(ivt, v, OFF_HWIRQ_MASTER);
    for (int v = VEC_IRQ8; v < VEC_IRQ8 + 8; v++)
        set_vector(ivt, v, OFF_HWIRQ_SLAVE);
    for (int v = 0x60; v <= 0x66; v++)
        ivt[v] = 0;
    ivt[0x79] = 0;

    if (!mem_ptr(mem, seg, 0x10000)) {
        log_err("BIOS state: guest RAM does not cover the first MiB");
        return -EINVAL;
    }
    memset(mem_ptr(mem, 0x400, 0x100), 0, 0x100);
    mem_write(mem, 0, ivt, sizeof(ivt));
    mem_write(mem, BDA_COM1, &com1, sizeof(com1));
    mem_write(mem, BDA_EBDA_SEG, &ebda_seg, sizeof(ebda_seg));
    mem_write(mem, BDA_EQUIPMENT, &equipment, sizeof(equipment));
    mem_write(mem, BDA_BASE_MEM, &base_kb, sizeof(base_kb));
    mem_write(mem, BDA_TICKS, &ticks, sizeof(ticks));
    mem_write(mem, seg + OFF_HWIRQ_MASTER, hwirq_master_handler, sizeof(hwirq_master_handler));
    mem_write(mem, seg + OFF_HWIRQ_SLAVE, hwirq_slave_handler, sizeof(hwirq_slave_handler));
    mem_write(mem, seg + OFF_INT08, int08_handler, sizeof(int08_handler));
    mem_write(mem, seg + OFF_IRET, &(uint8_t){0xcf}, 1);
    mem_write(mem, seg + OFF_INIT, stub, len);

    if (cpu->cr0 & 1) {
        cpu->rip = seg + OFF_INIT;
    } else {
        cpu->cs.selector = BIOS_SEG;
        cpu->cs.base = seg;
        cpu->rip = OFF_INIT;
    }
    return 0;
}
