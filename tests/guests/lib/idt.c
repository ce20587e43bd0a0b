#include <stddef.h>

#include "guest.h"
#include "trap.h"

#define ISR_STUB_SIZE 16  /* as in isr.S */
#define GATE_INTR64   0xe /* 64-bit interrupt gate (SDM Vol. 3A §3.5, Table 3-2) */
#define GATE_P        (1u << 7)

/* A 64-bit IDT gate descriptor (SDM Vol. 3A §6.14.1, Figure 6-8). */
struct idt_gate {
    uint16_t offset_lo, selector;
    uint8_t ist, type_attr; /* type, DPL in bits 5-6, P in bit 7 */
    uint16_t offset_mid;
    uint32_t offset_hi, reserved;
};

static struct idt_gate idt[256] __attribute__((aligned(16)));
static trap_handler_fn *handlers[256];

struct trap_record trap_last = {.vector = TRAP_NONE};
uint64_t trap_resume;

extern const char isr_stubs[];

static const char *const exception_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
    "#NP", "#SS", "#GP", "#PF", NULL,  "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

void idt_init(void)
{
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } idtr = {sizeof(idt) - 1, (uint64_t)idt};
    uint16_t cs = read_cs();

    for (unsigned v = 0; v < 256; v++) {
        uint64_t entry = (uint64_t)(isr_stubs + v * ISR_STUB_SIZE);

        idt[v] = (struct idt_gate){
            .offset_lo = (uint16_t)entry,
            .selector = cs,
            .type_attr = GATE_P | GATE_INTR64,
            .offset_mid = (uint16_t)(entry >> 16),
            .offset_hi = (uint32_t)(entry >> 32),
        };
    }
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

void idt_set_dpl(unsigned vector, unsigned dpl)
{
    idt[vector].type_attr = (uint8_t)(GATE_P | (dpl & 3) << 5 | GATE_INTR64);
}

void trap_set_handler(unsigned vector, trap_handler_fn *fn)
{
    handlers[vector] = fn;
}

void trap_unexpected(const struct trap_frame *f)
{
    const char *name =
        f->vector < 32 && exception_names[f->vector] ? exception_names[f->vector] : "interrupt";

    printf("FAIL: unexpected %s (vector %lu, error code 0x%lx) at %lx:%lx, rsp %lx, cr2 %lx\n",
           name, f->vector, f->error_code, f->cs, f->rip, f->rsp, read_cr2());
    guest_exit(100);
}

void trap_dispatch(struct trap_frame *f)
{
    if (trap_resume) {
        trap_last = (struct trap_record){
            .vector = f->vector,
            .error_code = f->error_code,
            .rip = f->rip,
            .cs = f->cs,
            .cr2 = f->vector == EXC_PF ? read_cr2() : 0,
        };
        f->rip = trap_resume;
        trap_resume = 0;
        return;
    }
    if (handlers[f->vector]) {
        handlers[f->vector](f);
        return;
    }
    trap_unexpected(f);
}
