#include <stddef.h>

#include "desc32.h"
#include "guest.h"
#include "trap32.h"

#define ISR32_STUB_SIZE 16 /* as in isr32.S */

static uint64_t idt[256] __attribute__((aligned(8)));
static trap32_handler_fn *handlers[256];
static uint16_t stub_cs;

struct trap32_record trap32_last = {.vector = TRAP32_NONE};
uint32_t trap32_resume;

extern const char isr32_stubs[];

static const char *const exception_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
    "#NP", "#SS", "#GP", "#PF", NULL,  "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

static uint64_t stub_gate(unsigned vector, unsigned dpl)
{
    return desc_gate(stub_cs, (uint32_t)(isr32_stubs + vector * ISR32_STUB_SIZE),
                     DESC_P | DESC_DPL(dpl) | SYS_INTR_GATE32, 0);
}

void idt32_init(uint16_t cs)
{
    struct __attribute__((packed)) {
        uint16_t limit;
        uint32_t base;
    } idtr = {sizeof(idt) - 1, (uint32_t)idt};

    stub_cs = cs;
    for (unsigned v = 0; v < 256; v++)
        idt[v] = stub_gate(v, 0);
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

void idt32_set_dpl(unsigned vector, unsigned dpl)
{
    idt[vector] = stub_gate(vector, dpl);
}

void idt32_set(unsigned vector, uint64_t desc)
{
    idt[vector] = desc;
}

uint64_t idt32_get(unsigned vector)
{
    return idt[vector];
}

void trap32_set_handler(unsigned vector, trap32_handler_fn *fn)
{
    handlers[vector] = fn;
}

struct trap32_record trap32_record_of(const struct trap_frame32 *f)
{
    return (struct trap32_record){
        .vector = f->vector,
        .error_code = f->error_code,
        .eip = f->eip,
        .cs = f->cs,
        .cr2 = f->vector == EXC_PF ? (uint32_t)read_cr2() : 0,
    };
}

void trap32_unexpected(const struct trap_frame32 *f)
{
    const char *name =
        f->vector < 32 && exception_names[f->vector] ? exception_names[f->vector] : "interrupt";

    printf("FAIL: unexpected %s (vector %u, error code 0x%x) at %x:%x, eflags %x, cr2 %lx\n", name,
           f->vector, f->error_code, f->cs, f->eip, f->eflags, read_cr2());
    guest_exit(100);
}

void trap32_dispatch(struct trap_frame32 *f)
{
    if (trap32_resume) {
        trap32_last = trap32_record_of(f);
        f->eip = trap32_resume;
        trap32_resume = 0;
        return;
    }
    if (handlers[f->vector]) {
        handlers[f->vector](f);
        return;
    }
    trap32_unexpected(f);
}
