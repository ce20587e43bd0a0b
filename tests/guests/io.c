/*
 * Port I/O of each width, string I/O and MMIO against vx86's platform
 * devices: the 16550A at COM1 (registers per the TI PC16550D data sheet),
 * the POST port, an unclaimed port, the unclaimed MMIO hole below 4 GiB and
 * both boot-timer markers. Uses the page tables vx86 boots with, which map
 * the whole first 4 GiB, MMIO hole included.
 */
#include "lib/guest.h"

#define UART_RBR_THR     (COM1 + 0)
#define UART_FCR         (COM1 + 2)
#define UART_LCR         (COM1 + 3)
#define UART_MCR         (COM1 + 4)
#define UART_LSR         (COM1 + 5)
#define UART_SCR         (COM1 + 7)
#define FCR_ENABLE_CLEAR 0x07 /* FIFOs on, both cleared */
#define MCR_DTR          0x01
#define MCR_LOOP         0x10
#define LSR_DR           0x01
#define LSR_THRE         0x20

#define POST_PORT        0x80
#define UNCLAIMED_PORT   0x6f0       /* no PC device decodes it */
#define UNCLAIMED_MMIO   0xc0000000u /* the bottom of the hole below 4 GiB */
#define BOOT_TIMER_MMIO  0xd0000000u
#define BOOT_TIMER_MAGIC 123

static void test_byte_ports(void)
{
    outb(UART_SCR, 0xa5);
    CHECK(inb(UART_SCR) == 0xa5);
    outb(UART_SCR, 0x5a);
    CHECK(inb(UART_SCR) == 0x5a);
    outb(POST_PORT, 0x42);
    CHECK(inb(POST_PORT) == 0x42);
    printf("byte I/O: scratch 0x%x, POST 0x%x\n", inb(UART_SCR), inb(POST_PORT));
}

/* Wider accesses to the byte-wide UART reach consecutive registers, lowest
 * byte first, as an ISA bus splits them. */
static void test_wide_ports(void)
{
    uint8_t lcr = inb(UART_LCR), mcr = inb(UART_MCR);
    uint32_t v;

    outw(UART_LCR, MCR_DTR << 8 | 0x03);
    CHECK(inb(UART_LCR) == 0x03);
    CHECK(inb(UART_MCR) == MCR_DTR);
    CHECK(inw(UART_LCR) == (MCR_DTR << 8 | 0x03));

    /* MCR, LSR, MSR, SCR: LSR and MSR ignore writes. */
    outl(UART_MCR, 0xc3000000u | MCR_DTR);
    v = inl(UART_MCR);
    printf("word I/O: LCR:MCR 0x%x; dword I/O: MCR..SCR 0x%x\n", inw(UART_LCR), v);
    CHECK((v & 0xff) == MCR_DTR);
    CHECK(v >> 8 & LSR_THRE);
    CHECK(v >> 24 == 0xc3);
    CHECK(inb(UART_SCR) == 0xc3);

    outb(UART_LCR, lcr);
    outb(UART_MCR, mcr);

    CHECK(inb(UNCLAIMED_PORT) == 0xff);
    CHECK(inw(UNCLAIMED_PORT) == 0xffff);
    CHECK(inl(UNCLAIMED_PORT) == 0xffffffffu);
}

static void outsb(uint16_t port, const void *p, unsigned long n)
{
    asm volatile("rep outsb" : "+S"(p), "+c"(n) : "d"(port) : "memory");
}

static void insb(uint16_t port, void *p, unsigned long n)
{
    asm volatile("rep insb" : "+D"(p), "+c"(n) : "d"(port) : "memory");
}

/* REP OUTSB to the console, then through the UART's loopback (MCR bit 4:
 * THR feeds RBR) and back with REP INSB; REP INSB of the POST port. */
static void test_string_io(void)
{
    static const char msg[] = "rep outsb: this line went out in one string instruction\n";
    static const char loop[] = "loopback";
    char back[sizeof(loop)] = {0}, post[8];
    uint8_t mcr = inb(UART_MCR);
    int post_ok = 1;

    while (!(inb(UART_LSR) & LSR_THRE))
        ;
    outsb(UART_RBR_THR, msg, sizeof(msg) - 1);

    outb(UART_FCR, FCR_ENABLE_CLEAR);
    outb(UART_MCR, mcr | MCR_LOOP);
    outsb(UART_RBR_THR, loop, sizeof(loop) - 1);
    CHECK(inb(UART_LSR) & LSR_DR);
    insb(UART_RBR_THR, back, sizeof(loop) - 1);
    CHECK(!(inb(UART_LSR) & LSR_DR));
    outb(UART_MCR, mcr);
    printf("rep insb through the UART's loopback: \"%s\"\n", back);
    CHECK(strcmp(back, loop) == 0);

    outb(POST_PORT, 0x3c);
    insb(POST_PORT, post, sizeof(post));
    for (unsigned i = 0; i < sizeof(post); i++)
        post_ok &= post[i] == 0x3c;
    CHECK(post_ok);
}

static void test_mmio(void)
{
    volatile uint8_t *hole = (volatile uint8_t *)(uintptr_t)UNCLAIMED_MMIO;
    volatile uint8_t *timer = (volatile uint8_t *)(uintptr_t)BOOT_TIMER_MMIO;

    printf("MMIO hole: %x %x %x %lx\n", hole[0], *(volatile uint16_t *)(hole + 2),
           *(volatile uint32_t *)(hole + 4), *(volatile uint64_t *)(hole + 8));
    CHECK(hole[0] == 0xff);
    CHECK(*(volatile uint16_t *)(hole + 2) == 0xffff);
    CHECK(*(volatile uint32_t *)(hole + 4) == 0xffffffffu);
    CHECK(*(volatile uint64_t *)(hole + 8) == ~0ull);

    /* Both markers: vx86 keeps the first and reports it with --verbose. */
    *timer = BOOT_TIMER_MAGIC;
    outb(BOOT_TIMER_PORT, BOOT_TIMER_MAGIC);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    (void)cmdline;
    (void)mem_size;
    test_byte_ports();
    test_wide_ports();
    test_string_io();
    test_mmio();
    guest_finish();
}
