#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "accel/kvm/kvm.h"

static void seg_from_kvm(struct cpu_segment *d, const struct kvm_segment *s)
{
    *d = (struct cpu_segment){
        .base = s->base,
        .limit = s->limit,
        .selector = s->selector,
        .type = s->type,
        .s = s->s,
        .dpl = s->dpl,
        .present = s->present,
        .avl = s->avl,
        .l = s->l,
        .db = s->db,
        .g = s->g,
        .unusable = s->unusable,
    };
}

static void seg_to_kvm(struct kvm_segment *d, const struct cpu_segment *s)
{
    *d = (struct kvm_segment){
        .base = s->base,
        .limit = s->limit,
        .selector = s->selector,
        .type = s->type,
        .s = s->s,
        .dpl = s->dpl,
        .present = s->present,
        .avl = s->avl,
        .l = s->l,
        .db = s->db,
        .g = s->g,
        .unusable = s->unusable,
    };
}

int kvm_get_state(struct accel_vcpu *v, struct cpu_state *s)
{
    struct kvm_regs r;
    struct kvm_sregs sr;

    if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sr) < 0)
        return -errno;
    memset(s, 0, sizeof(*s));
    s->rax = r.rax, s->rbx = r.rbx, s->rcx = r.rcx, s->rdx = r.rdx;
    s->rsi = r.rsi, s->rdi = r.rdi, s->rsp = r.rsp, s->rbp = r.rbp;
    s->r8 = r.r8, s->r9 = r.r9, s->r10 = r.r10, s->r11 = r.r11;
    s->r12 = r.r12, s->r13 = r.r13, s->r14 = r.r14, s->r15 = r.r15;
    s->rip = r.rip, s->rflags = r.rflags;
    seg_from_kvm(&s->cs, &sr.cs);
    seg_from_kvm(&s->ds, &sr.ds);
    seg_from_kvm(&s->es, &sr.es);
    seg_from_kvm(&s->fs, &sr.fs);
    seg_from_kvm(&s->gs, &sr.gs);
    seg_from_kvm(&s->ss, &sr.ss);
    seg_from_kvm(&s->tr, &sr.tr);
    seg_from_kvm(&s->ldt, &sr.ldt);
    s->gdt = (struct cpu_dtable){.base = sr.gdt.base, .limit = sr.gdt.limit};
    s->idt = (struct cpu_dtable){.base = sr.idt.base, .limit = sr.idt.limit};
    s->cr0 = sr.cr0, s->cr2 = sr.cr2, s->cr3 = sr.cr3, s->cr4 = sr.cr4, s->cr8 = sr.cr8;
    s->efer = sr.efer;
    return 0;
}

int kvm_set_state(struct accel_vcpu *v, const struct cpu_state *s)
{
    struct kvm_regs r = {
        .rax = s->rax,
        .rbx = s->rbx,
        .rcx = s->rcx,
        .rdx = s->rdx,
        .rsi = s->rsi,
        .rdi = s->rdi,
        .rsp = s->rsp,
        .rbp = s->rbp,
        .r8 = s->r8,
        .r9 = s->r9,
        .r10 = s->r10,
        .r11 = s->r11,
        .r12 = s->r12,
        .r13 = s->r13,
        .r14 = s->r14,
        .r15 = s->r15,
        .rip = s->rip,
        .rflags = s->rflags,
    };
    struct kvm_sregs sr;

    /* Start from KVM's values so that fields vx86 does not model (the APIC
     * base, the pending-interrupt bitmap) keep theirs. */
    if (ioctl(v->fd, KVM_GET_SREGS, &sr) < 0)
        return -errno;
    seg_to_kvm(&sr.cs, &s->cs);
    seg_to_kvm(&sr.ds, &s->ds);
    seg_to_kvm(&sr.es, &s->es);
    seg_to_kvm(&sr.fs, &s->fs);
    seg_to_kvm(&sr.gs, &s->gs);
    seg_to_kvm(&sr.ss, &s->ss);
    seg_to_kvm(&sr.tr, &s->tr);
    seg_to_kvm(&sr.ldt, &s->ldt);
    sr.gdt.base = s->gdt.base, sr.gdt.limit = s->gdt.limit;
    sr.idt.base = s->idt.base, sr.idt.limit = s->idt.limit;
    sr.cr0 = s->cr0, sr.cr2 = s->cr2, sr.cr3 = s->cr3, sr.cr4 = s->cr4, sr.cr8 = s->cr8;
    sr.efer = s->efer;
    if (ioctl(v->fd, KVM_SET_SREGS, &sr) < 0 || ioctl(v->fd, KVM_SET_REGS, &r) < 0)
        return -errno;
    return 0;
}

/*
 * KVM's own INIT (kvm_vcpu_reset with init_event: registers, LAPIC, events):
 * an INIT latched as in SMM (KVM_SET_VCPU_EVENTS' smi.latched_init, which
 * sets KVM_APIC_INIT) is taken at once by KVM_GET_MP_STATE
 * (kvm_apic_accept_events). First a KVM_RUN with immediate_exit completes
 * the I/O exit the vCPU last left by, against the old registers, as KVM's
 * API document asks before state is changed.
 */
int kvm_vcpu_reset(struct accel_vcpu *v, const struct cpu_state *s)
{
    struct kvm_vcpu_events ev;
    struct kvm_mp_state mp;
    struct kvm_sregs sr;

    __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (ioctl(v->fd, KVM_RUN, 0) == 0)
        return -EIO; /* it ran the guest: immediate_exit not honoured */
    if (errno != EINTR && errno != EAGAIN)
        return -errno;
    __atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
    if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
        return -errno;
    ev.flags |= KVM_VCPUEVENT_VALID_SMM;
    ev.smi.latched_init = 1;
    if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0 || ioctl(v->fd, KVM_GET_MP_STATE, &mp) < 0)
        return -errno;
    /* INIT keeps IA32_APIC_BASE; power-on gives xAPIC, enabled, BSP for
     * vCPU 0 (SDM Vol. 3A §11.4.4). */
    if (ioctl(v->fd, KVM_GET_SREGS, &sr) < 0)
        return -errno;
    sr.apic_base = 0xfee00000ULL | (1ULL << 11) | (v->index == 0 ? 1ULL << 8 : 0);
    if (ioctl(v->fd, KVM_SET_SREGS, &sr) < 0)
        return -errno;
    mp.mp_state = s ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_INIT_RECEIVED;
    if (ioctl(v->fd, KVM_SET_MP_STATE, &mp) < 0)
        return -errno;
    return s ? kvm_set_state(v, s) : 0;
}
