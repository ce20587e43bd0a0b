/*
 * Runtime of vx86's test guests: tiny freestanding kernels that check
 * themselves and report through the debug-exit port: guest_exit(0) makes
 * vx86 exit with status 1 (pass), guest_exit(n) with (n << 1) | 1.
 */
#ifndef GUEST_H
#define GUEST_H

#include <stdint.h>

#define DEBUG_EXIT_PORT 0xf4
#define COM1            0x3f8
#define BOOT_TIMER_PORT 0x440

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
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

void serial_putc(char c);
void serial_puts(const char *s);
void printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void *memset(void *d, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);
int strcmp(const char *a, const char *b);

/* Ends the VM; never returns. */
__attribute__((noreturn)) void guest_exit(int code);

/* Counts a check; prints "FAIL: what" when it does not hold. */
#define CHECK(cond) check((cond), #cond, __FILE__, __LINE__)
void check(int ok, const char *what, const char *file, int line);

/* Prints "PASS" or "FAIL (n checks failed)" and exits with the result. */
__attribute__((noreturn)) void guest_finish(void);

/* The test's entry: cmdline and RAM size as vx86 passes them (64-bit). */
int guest_main(const char *cmdline, uint64_t mem_size);

#endif
