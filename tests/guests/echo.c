/*
 * Console input: echoes what arrives on COM1 in upper case until 'q'.
 * Polls the line status register, so it needs no interrupt controller.
 * Not a PASS guest on its own: the console tests drive it.
 */
#include "lib/guest.h"

#define LSR    5
#define LSR_DR 0x01

static char getc_polled(void)
{
    while (!(inb(COM1 + LSR) & LSR_DR))
        ;
    return (char)inb(COM1);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    (void)cmdline;
    (void)mem_size;
    printf("echo: ready\n");
    for (;;) {
        char c = getc_polled();

        if (c == 'q')
            break;
        serial_putc(c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c);
    }
    printf("\necho: bye\n");
    guest_exit(0);
}
