#include <stdarg.h>

#include "guest.h"

#define LSR      5
#define LSR_THRE 0x20

static int failures, checks;

void serial_putc(char c)
{
    if (c == '\n')
        serial_putc('\r');
    while (!(inb(COM1 + LSR) & LSR_THRE))
        ;
    outb(COM1, (uint8_t)c);
}

void serial_puts(const char *s)
{
    while (*s)
        serial_putc(*s++);
}

/*
 * Divides *v by base and returns the remainder. 32-bit guests link no libgcc,
 * so a value wider than a long is divided bit by bit instead of with the
 * compiler's 64-bit division helper.
 */
static unsigned divmod(unsigned long long *v, unsigned base)
{
    unsigned long long q = 0, r = 0;

    if (*v <= (unsigned long)-1) {
        unsigned long n = (unsigned long)*v;

        *v = n / base;
        return (unsigned)(n % base);
    }
    for (int bit = 63; bit >= 0; bit--) {
        r = r << 1 | ((*v >> bit) & 1);
        if (r >= base) {
            r -= base;
            q |= 1ULL << bit;
        }
    }
    *v = q;
    return (unsigned)r;
}

static void put_num(unsigned long long v, unsigned base, int width, char pad, int neg)
{
    char buf[24];
    int n = 0;

    do {
        buf[n++] = "0123456789abcdef"[divmod(&v, base)];
    } while (v);
    if (neg)
        buf[n++] = '-';
    while (n < width--)
        serial_putc(pad);
    while (n)
        serial_putc(buf[--n]);
}

/* The next integer argument, of the size the count of 'l' modifiers names. */
static long long arg_signed(va_list *ap, int longs)
{
    if (longs >= 2)
        return va_arg(*ap, long long);
    return longs ? va_arg(*ap, long) : va_arg(*ap, int);
}

static unsigned long long arg_unsigned(va_list *ap, int longs)
{
    if (longs >= 2)
        return va_arg(*ap, unsigned long long);
    return longs ? va_arg(*ap, unsigned long) : va_arg(*ap, unsigned);
}

/* %d %u %x %c %s %p with l/ll and a zero-padded width: enough for tests. */
void printf(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        int longs = 0, width = 0;
        char pad = ' ';
        unsigned long long v;

        if (*fmt != '%') {
            serial_putc(*fmt);
            continue;
        }
        fmt++;
        if (*fmt == '0')
            pad = '0';
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l')
            longs++, fmt++;
        switch (*fmt) {
        case 'd': {
            long long s = arg_signed(&ap, longs);

            put_num(s < 0 ? -(unsigned long long)s : (unsigned long long)s, 10, width, pad, s < 0);
            break;
        }
        case 'u':
        case 'x':
            v = arg_unsigned(&ap, longs);
            put_num(v, *fmt == 'u' ? 10 : 16, width, pad, 0);
            break;
        case 'p':
            put_num((unsigned long long)(unsigned long)va_arg(ap, void *), 16, width, pad, 0);
            break;
        case 'c':
            serial_putc((char)va_arg(ap, int));
            break;
        case 's':
            serial_puts(va_arg(ap, const char *));
            break;
        default:
            serial_putc('%');
            serial_putc(*fmt);
            break;
        }
    }
    va_end(ap);
}

void *memset(void *d, int c, unsigned long n)
{
    unsigned char *p = d;

    while (n--)
        *p++ = (unsigned char)c;
    return d;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
    unsigned char *p = d;
    const unsigned char *q = s;

    while (n--)
        *p++ = *q++;
    return d;
}

int memcmp(const void *a, const void *b, unsigned long n)
{
    const unsigned char *x = a, *y = b;

    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x - *y;
    return 0;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}

void guest_exit(int code)
{
    outl(DEBUG_EXIT_PORT, (uint32_t)code);
    for (;;)
        __asm__ volatile("cli; hlt");
}

void check(int ok, const char *what, const char *file, int line)
{
    checks++;
    if (!ok) {
        failures++;
        printf("FAIL: %s (%s:%d)\n", what, file, line);
    }
}

void guest_finish(void)
{
    if (failures) {
        printf("FAIL (%d of %d checks failed)\n", failures, checks);
        guest_exit(failures < 100 ? failures : 100);
    }
    printf("PASS (%d checks)\n", checks);
    guest_exit(0);
}
