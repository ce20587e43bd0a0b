/*
 * Runtime of vx86's test guests: tiny freestanding kernels that check
 * themselves and report through the debug-exit port: guest_exit(0) makes
 * vx86 exit with status 1 (pass), guest_exit(n) with (n << 1) | 1.
 */
#ifndef GUEST_H
#define GUEST_H

#include <stdint.h>

#include "x86.h"

#define DEBUG_EXIT_PORT 0xf4
#define COM1            0x3f8
#define BOOT_TIMER_PORT 0x440

void serial_putc(char c);
void serial_puts(const char *s);
void printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void *memset(void *d, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);
int memcmp(const void *a, const void *b, unsigned long n);
int strcmp(const char *a, const char *b);

/* Ends the VM; never returns. */
__attribute__((noreturn)) void guest_exit(int code);

/* Counts a check; prints "FAIL: what" when it does not hold. */
#define CHECK(cond) check((cond), #cond, __FILE__, __LINE__)
void check(int ok, const char *what, const char *file, int line);

/* Prints "PASS" or "FAIL (n checks failed)" and exits with the result. */
__attribute__((noreturn)) void guest_finish(void);

/* The entry of a 64-bit ELF test: cmdline and RAM size as vx86 passes them. */
int guest_main(const char *cmdline, uint64_t mem_size);

/* The entry of a multiboot test (32-bit): EAX and EBX as the loader left them. */
int guest_main_multiboot(uint32_t magic, uint32_t info);

#endif
