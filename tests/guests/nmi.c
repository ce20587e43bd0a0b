/*
 * NMI blocking (SDM Vol. 3A §6.7.1): from the delivery of an NMI until the
 * next IRET, a second NMI waits. The NMIs come from the LAPIC's ICR, sent
 * to this CPU's own APIC ID (§10.6.1). An IRET that faults ends the
 * blocking too: the waiting NMI comes before the fault handler's first
 * instruction.
 */
#include "lib/guest.h"
#include "lib/trap.h"

#define LAPIC    0xfee00000ul
#define EXC_NMI  2
#define SPIN     20000 /* instructions the handler runs with an NMI waiting */
#define WAIT_MAX 1000000

static volatile unsigned nmi_count, seen_inside, gp_saw;

static uint32_t lapic_read(unsigned reg)
{
    return *(volatile uint32_t *)(LAPIC + reg);
}

static void lapic_write(unsigned reg, uint32_t v)
{
    *(volatile uint32_t *)(LAPIC + reg) = v;
}

static void self_nmi(void)
{
    lapic_write(0x310, lapic_read(0x20) & 0xff000000u); /* ICR high: our APIC ID */
    lapic_write(0x300, 0x4400);                         /* ICR low: NMI, assert, physical */
}

static void spin(void)
{
    for (volatile unsigned i = 0; i < SPIN; i++)
        asm volatile("pause");
}

static void wait_for(unsigned n)
{
    for (unsigned i = 0; nmi_count < n && i < WAIT_MAX; i++)
        asm volatile("pause");
}

static void on_nested_nmi(struct trap_frame *f)
{
    (void)f;
    nmi_count++;
}

/* The first NMI: sends the second, which must wait for this handler's IRET. */
static void on_nmi(struct trap_frame *f)
{
    (void)f;
    nmi_count++;
    trap_set_handler(EXC_NMI, on_nested_nmi);
    self_nmi();
    spin();
    seen_inside = nmi_count;
}

static void on_gp(struct trap_frame *f)
{
    extern const char iret_resume[];

    gp_saw = nmi_count;
    f->rip = (uint64_t)iret_resume;
}

/* The first NMI: sends the second, spins, then runs an IRET that faults
 * (#GP(0) for a null CS) still inside the handler. */
static __attribute__((noipa)) void on_nmi_iret_faults(struct trap_frame *f)
{
    (void)f;
    nmi_count++;
    trap_set_handler(EXC_NMI, on_nested_nmi);
    self_nmi();
    spin();
    seen_inside = nmi_count;
    asm volatile("mov %%rsp, %%rdx\n\t"
                 "mov %%ss, %%eax\n\t"
                 "push %%rax\n\t"
                 "push %%rdx\n\t"
                 "pushfq\n\t"
                 "push $0\n\t"
                 "lea iret_resume(%%rip), %%rax\n\t"
                 "push %%rax\n\t"
                 "iretq\n"
                 ".globl iret_resume\n"
                 "iret_resume:\n\t"
                 "add $40, %%rsp"
                 :
                 :
                 : "rax", "rdx", "memory");
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    (void)cmdline, (void)mem_size;
    idt_init();
    asm volatile("cli");
    lapic_write(0xf0, 0x1ff); /* SVR: enabled, spurious 0xff */

    trap_set_handler(EXC_NMI, on_nmi);
    self_nmi();
    wait_for(2);
    printf("NMI sent inside the NMI handler: %u NMIs there, %u after its IRET\n", seen_inside,
           nmi_count);
    CHECK(seen_inside == 1);
    CHECK(nmi_count == 2);

    nmi_count = seen_inside = 0;
    trap_set_handler(EXC_GP, on_gp);
    trap_set_handler(EXC_NMI, on_nmi_iret_faults);
    self_nmi();
    wait_for(2);
    printf("IRET that faults: %u NMIs before it, %u at the #GP handler, %u in all\n", seen_inside,
           gp_saw, nmi_count);
    CHECK(seen_inside == 1);
    CHECK(gp_saw == 2);
    CHECK(nmi_count == 2);
    guest_finish();
}
