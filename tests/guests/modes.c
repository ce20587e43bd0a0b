/* The 64-bit end of modes.S: checks what each mode measured on the way up. */
#include "lib/guest.h"
#include "modes.h"

/* modes.S's selectors */
#define SEL_CODE32 0x08
#define SEL_CODE64 0x18

extern volatile uint32_t modes_results[R_COUNT];

__attribute__((noreturn)) void modes_main(void);

static void check_real(const volatile uint32_t *r)
{
    printf("real mode: cs %x, pushf %u bytes, msw %x, es-written word %x\n", r[R_REAL_CS],
           r[R_REAL_PUSHF], r[R_REAL_MSW], r[R_REAL_SEGMENT]);
    CHECK(r[R_REAL_CS] == 0x1000);
    CHECK(r[R_REAL_PUSHF] == 2);
    CHECK(!(r[R_REAL_MSW] & CR0_PE));
    CHECK(r[R_REAL_SEGMENT] == R_SEGMENT_MAGIC);
}

static void check_protected(const volatile uint32_t *r)
{
    printf("protected mode: cs %x, pushf %u bytes, cr0 %x\n", r[R_PM_CS], r[R_PM_PUSHF],
           r[R_PM_CR0]);
    CHECK(r[R_PM_CS] == SEL_CODE32);
    CHECK(r[R_PM_PUSHF] == 4);
    CHECK(r[R_PM_CR0] & CR0_PE);
    CHECK(!(r[R_PM_CR0] & CR0_PG));

    printf("compatibility mode: cs %x, pushf %u bytes, efer %x\n", r[R_COMPAT_CS],
           r[R_COMPAT_PUSHF], r[R_COMPAT_EFER]);
    CHECK(r[R_COMPAT_CS] == SEL_CODE32);
    CHECK(r[R_COMPAT_PUSHF] == 4);
    CHECK(r[R_COMPAT_EFER] & EFER_LME);
    CHECK(r[R_COMPAT_EFER] & EFER_LMA);
}

static void check_long(const volatile uint32_t *r)
{
    uint64_t v = ~0ull;

    /* In 64-bit mode a 32-bit register write clears bits 63:32 (SDM Vol. 1 §3.4.1.1). */
    asm("movl $1, %k0" : "+r"(v));
    printf("64-bit mode: cs %x, pushf %u bytes, efer %lx, cr0 %lx, cr4 %lx\n", read_cs(),
           r[R_LONG_PUSHF], rdmsr(MSR_EFER), read_cr0(), read_cr4());
    CHECK(read_cs() == SEL_CODE64);
    CHECK(r[R_LONG_PUSHF] == 8);
    CHECK(v == 1);
    CHECK(rdmsr(MSR_EFER) & EFER_LMA);
    CHECK(read_cr0() & CR0_PG);
    CHECK(read_cr4() & CR4_PAE);
}

void modes_main(void)
{
    printf("modes: 64-bit mode\n");
    check_real(modes_results);
    check_protected(modes_results);
    check_long(modes_results);
    guest_finish();
}
