/* VT-d registers, queued invalidation and fault logging: see vtd.h. */
#include <errno.h>
#include <string.h>

#include "hw/iommu/vtd_regs.h"
#include "vm/board.h"

#define VERSION 0x10 /* 1.0 (§11.4.1) */

/* §11.4.2 CAP: ND 6 (16-bit domain IDs); SAGAW 39- and 48-bit; MGAW 48
 * bits; FRO; SLLPS 2 MiB and 1 GiB; PSI; NFR 0 (one register); MAMV 18;
 * DWD, DRD. */
#define CAP                                                                                        \
    (6ULL | 0x6ULL << 8 | 47ULL << 16 | (uint64_t)(VTD_FRCD / 16) << 24 | 0x3ULL << 34 |           \
     1ULL << 39 | 18ULL << 48 | 1ULL << 54 | 1ULL << 55)
/* §11.4.3 ECAP: C (coherent walks), QI, IR, PT; IRO; MHMV 15. */
#define ECAP                                                                                       \
    (1ULL << 0 | 1ULL << 1 | 1ULL << 3 | 1ULL << 6 | (uint64_t)(VTD_IVA / 16) << 8 | 0xfULL << 20)

/* CCMD (§11.4.6) and IOTLB (§11.4.8.1): invalidate bit, requested and
 * actual granularity. */
#define CCMD_ICC        (1ULL << 63)
#define CCMD_CIRG(v)    ((v) >> 61 & 3)
#define CCMD_CAIG_MASK  (3ULL << 59)
#define IOTLB_IVT       (1ULL << 63)
#define IOTLB_IIRG(v)   ((v) >> 60 & 3)
#define IOTLB_IAIG_MASK (3ULL << 57)

/* IQA (§11.4.13): base, queue size 2^QS pages of 256 128-bit descriptors;
 * IQH/IQT hold a descriptor index in bits 18:4. DW (256-bit descriptors)
 * needs scalable mode, which is not offered: the bit reads 0. */
#define IQA_QS(v)   ((v)&7)
#define IQA_ADDR    (~0xfffULL)
#define IQ_IDX(v)   ((v) >> 4 & 0x7fff)
#define IQ_IDX_MASK 0x7fff0ULL

/* §6.5.2: descriptor types (bits 3:0, and 11:9 must be 0 here). */
enum { DESC_CC = 1, DESC_IOTLB = 2, DESC_IEC = 4, DESC_WAIT = 5 };
#define WAIT_IF (1ULL << 4)
#define WAIT_SW (1ULL << 5)

/* Asks for the fault event interrupt, or leaves it pending while masked
 * (§7.3). */
static void fault_event(struct vtd *v)
{
    if (v->fectl & VTD_CTL_IM)
        v->fectl |= VTD_CTL_IP;
    else
        v->fault_event = true;
}

void vtd_fault(struct vtd *v, uint16_t sid, unsigned reason, uint64_t info, bool write)
{
    /* §7.2.1: with the only recording register full, the fault is lost
     * and overflow is flagged. */
    if (v->frcd[1] & VTD_FRCD_F) {
        v->fsts |= VTD_FSTS_PFO;
    } else {
        v->frcd[0] = info & ~0xfffULL;
        v->frcd[1] = VTD_FRCD_F | (write ? 0 : VTD_FRCD_T) | VTD_FRCD_FR(reason) | sid;
    }
    fault_event(v);
}

static void inv_event(struct vtd *v)
{
    v->ics |= VTD_ICS_IWC;
    if (v->iectl & VTD_CTL_IM)
        v->iectl |= VTD_CTL_IP;
    else
        v->inv_event = true;
}

void vtd_unlock(struct vtd *v)
{
    bool fe = v->fault_event, ie = v->inv_event;
    uint64_t fa = (uint64_t)v->feuaddr << 32 | v->feaddr,
             ia = (uint64_t)v->ieuaddr << 32 | v->ieaddr;
    uint32_t fd = v->fedata, id = v->iedata;

    v->fault_event = v->inv_event = false;
    pthread_mutex_unlock(&v->lock);
    if (fe)
        v->ops->msi(v->opaque, fa, fd);
    if (ie)
        v->ops->msi(v->opaque, ia, id);
}

/* One descriptor (§6.5.2); false: invalid, an invalidation queue error. */
static bool run_desc(struct vtd *v, uint64_t lo, uint64_t hi)
{
    uint32_t status = (uint32_t)(lo >> 32);
    uint64_t addr = hi & ~3ULL;

    if (lo & 0xe00)
        return false;
    switch (lo & 0xf) {
    case DESC_CC:
    case DESC_IOTLB:
    case DESC_IEC:
        return true; /* nothing is cached (vtd.h) */
    case DESC_WAIT:
        if (lo & WAIT_SW) {
            if (mem_write(v->mem, addr, &status, sizeof(status)))
                return false;
            v->ops->written(v->opaque, addr, sizeof(status));
        }
        if (lo & WAIT_IF)
            inv_event(v);
        return true;
    }
    return false;
}

/* Fetches and runs descriptors from IQH up to IQT (§6.5.2); on an error
 * IQH stays at the bad descriptor and FSTS.IQE is set until software
 * clears it (§6.5.2.10). At most one pass over the queue per call. */
static void run_queue(struct vtd *v)
{
    uint64_t entries = 256ULL << IQA_QS(v->iqa), head = IQ_IDX(v->iqh), tail = IQ_IDX(v->iqt);

    if (!(v->gsts & VTD_GCMD_QIE) || (v->fsts & VTD_FSTS_IQE))
        return;
    if (tail >= entries || head >= entries)
        goto bad;
    while (head != tail) {
        uint64_t d[2];

        if (mem_read(v->mem, (v->iqa & IQA_ADDR) + head * 16, d, sizeof(d)) ||
            !run_desc(v, d[0], d[1]))
            goto bad;
        head = (head + 1) % entries;
        v->iqh = head << 4;
    }
    return;
bad:
    v->fsts |= VTD_FSTS_IQE;
    fault_event(v);
}

/* §11.4.4: GCMD. SRTP and SIRTP latch their pointers at once (the status
 * bits stay set); the others are states that GSTS follows. */
static void gcmd(struct vtd *v, uint32_t cmd)
{
    const uint32_t states = VTD_GCMD_TE | VTD_GCMD_QIE | VTD_GCMD_IRE | VTD_GCMD_CFI;
    bool qi_was = v->gsts & VTD_GCMD_QIE;

    if (cmd & VTD_GCMD_SRTP) {
        v->root = v->rtaddr;
        v->gsts |= VTD_GCMD_SRTP;
    }
    if (cmd & VTD_GCMD_SIRTP) {
        v->irt = v->irta;
        v->gsts |= VTD_GCMD_SIRTP;
    }
    v->gsts = (v->gsts & ~states) | (cmd & states);
    if (qi_was && !(cmd & VTD_GCMD_QIE))
        v->iqh = 0; /* §6.5.2: disabling QI resets the head */
    if (!qi_was && (cmd & VTD_GCMD_QIE))
        run_queue(v);
}

static uint64_t fsts(const struct vtd *v)
{
    return v->fsts | (v->frcd[1] & VTD_FRCD_F ? VTD_FSTS_PPF : 0);
}

/* The 8 bytes at base (8-aligned), 32-bit registers in pairs. */
static uint64_t read64(const struct vtd *v, uint64_t base)
{
    switch (base) {
    case VTD_VER:
        return VERSION;
    case VTD_CAP:
        return CAP;
    case VTD_ECAP:
        return ECAP;
    case VTD_GCMD: /* GCMD reads 0, GSTS above it */
        return (uint64_t)v->gsts << 32;
    case VTD_RTADDR:
        return v->rtaddr;
    case VTD_CCMD:
        return v->ccmd;
    case VTD_FSTS - 4:
        return fsts(v) << 32;
    case VTD_FECTL:
        return v->fectl | (uint64_t)v->fedata << 32;
    case VTD_FEADDR:
        return v->feaddr | (uint64_t)v->feuaddr << 32;
    case VTD_IQH:
        return v->iqh;
    case VTD_IQT:
        return v->iqt;
    case VTD_IQA:
        return v->iqa;
    case VTD_ICS - 4:
        return (uint64_t)v->ics << 32;
    case VTD_IECTL:
        return v->iectl | (uint64_t)v->iedata << 32;
    case VTD_IEADDR:
        return v->ieaddr | (uint64_t)v->ieuaddr << 32;
    case VTD_IRTA:
        return v->irta;
    case VTD_IOTLB:
        return v->iotlb;
    case VTD_FRCD:
        return v->frcd[0];
    case VTD_FRCD + 8:
        return v->frcd[1];
    }
    return 0;
}

static bool is64(uint64_t base)
{
    switch (base) {
    case VTD_RTADDR:
    case VTD_CCMD:
    case VTD_IQH:
    case VTD_IQT:
    case VTD_IQA:
    case VTD_IRTA:
    case VTD_IVA:
    case VTD_IOTLB:
    case VTD_FRCD:
    case VTD_FRCD + 8:
        return true;
    }
    return false;
}

/* A 64-bit register's new value val, of which the bits in mask were
 * written (a 4-byte access writes one half). */
static void write64(struct vtd *v, uint64_t base, uint64_t val, uint64_t mask)
{
    switch (base) {
    case VTD_RTADDR:
        v->rtaddr = val & ~0x3ffULL; /* bits 11:10: the translation table mode */
        break;
    case VTD_CCMD:
        /* §6.5.1: done at once, at the granularity asked for. */
        if ((mask & CCMD_ICC) && (val & CCMD_ICC))
            val = (val & ~CCMD_ICC & ~CCMD_CAIG_MASK) | CCMD_CIRG(val) << 59;
        v->ccmd = val;
        break;
    case VTD_IQT:
        v->iqt = val & IQ_IDX_MASK;
        run_queue(v);
        break;
    case VTD_IQA:
        v->iqa = val & (IQA_ADDR | 7);
        break;
    case VTD_IRTA:
        v->irta = val & (VTD_IRTA_ADDR | 1ULL << 11 | VTD_IRTA_S);
        break;
    case VTD_IVA:
        v->iva = val;
        break;
    case VTD_IOTLB:
        if ((mask & IOTLB_IVT) && (val & IOTLB_IVT))
            val = (val & ~IOTLB_IVT & ~IOTLB_IAIG_MASK) | IOTLB_IIRG(val) << 57;
        v->iotlb = val;
        break;
    case VTD_FRCD + 8: /* F is write-1-to-clear, the rest read-only */
        if ((mask & VTD_FRCD_F) && (val & VTD_FRCD_F))
            v->frcd[1] &= ~VTD_FRCD_F;
        break;
    }
}

/* A masked interrupt left pending goes out once unmasked (§7.3). */
static void unmask(uint32_t *ctl, uint32_t val, bool *event)
{
    *ctl = (*ctl & VTD_CTL_IP) | (val & VTD_CTL_IM);
    if (!(*ctl & VTD_CTL_IM) && (*ctl & VTD_CTL_IP)) {
        *ctl &= ~VTD_CTL_IP;
        *event = true;
    }
}

static void write32(struct vtd *v, uint64_t off, uint32_t val)
{
    switch (off) {
    case VTD_GCMD:
        gcmd(v, val);
        break;
    case VTD_FSTS:
        v->fsts &= ~(val & VTD_FSTS_W1C);
        if (!fsts(v))
            v->fectl &= ~VTD_CTL_IP;
        break;
    case VTD_FECTL:
        unmask(&v->fectl, val, &v->fault_event);
        break;
    case VTD_FEDATA:
        v->fedata = val;
        break;
    case VTD_FEADDR:
        v->feaddr = val & ~3u;
        break;
    case VTD_FEUADDR:
        v->feuaddr = val;
        break;
    case VTD_ICS:
        if (val & VTD_ICS_IWC) {
            v->ics &= ~VTD_ICS_IWC;
            v->iectl &= ~VTD_CTL_IP;
        }
        break;
    case VTD_IECTL:
        unmask(&v->iectl, val, &v->inv_event);
        break;
    case VTD_IEDATA:
        v->iedata = val;
        break;
    case VTD_IEADDR:
        v->ieaddr = val & ~3u;
        break;
    case VTD_IEUADDR:
        v->ieuaddr = val;
        break;
    }
}

/* 4- and 8-byte accesses, naturally aligned (§11.2); others read 0. */
static uint64_t reg_read(void *opaque, uint64_t off, unsigned size)
{
    struct vtd *v = opaque;
    uint64_t val;

    if (off & (size - 1))
        return 0;
    pthread_mutex_lock(&v->lock);
    val = read64(v, off & ~7ULL);
    pthread_mutex_unlock(&v->lock);
    if (size == 4)
        val = (uint32_t)(val >> (off & 4) * 8);
    return val;
}

static void reg_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
    struct vtd *v = opaque;
    uint64_t base = off & ~7ULL;

    if (off & (size - 1))
        return;
    pthread_mutex_lock(&v->lock);
    if (is64(base)) {
        unsigned shift = (unsigned)(off & 4) * 8;
        uint64_t mask = size == 8 ? ~0ULL : 0xffffffffULL << shift;

        write64(v, base, (read64(v, base) & ~mask) | ((value << shift) & mask), mask);
    } else if (size == 8) {
        write32(v, base, (uint32_t)value);
        write32(v, base + 4, (uint32_t)(value >> 32));
    } else {
        write32(v, off, (uint32_t)value);
    }
    vtd_unlock(v);
}

int vtd_init(struct vtd *v, struct bus *mmio, const struct guest_mem *mem,
             const struct vtd_ops *ops, void *opaque)
{
    int err;

    memset(v, 0, sizeof(*v));
    v->mem = mem;
    v->ops = ops;
    v->opaque = opaque;
    /* §11.4.9-11: the event interrupts start masked. */
    v->fectl = VTD_CTL_IM;
    v->iectl = VTD_CTL_IM;
    pthread_mutex_init(&v->lock, NULL);
    err = bus_register(mmio, &(struct bus_range){.base = BOARD_VTD_BASE,
                                                 .len = VTD_SIZE,
                                                 .widths = BUS_W4 | BUS_W8,
                                                 .read = reg_read,
                                                 .write = reg_write,
                                                 .opaque = v,
                                                 .name = "vt-d"});
    if (err) {
        pthread_mutex_destroy(&v->lock);
        v->mem = NULL;
    }
    return err;
}

void vtd_destroy(struct vtd *v)
{
    if (v->mem)
        pthread_mutex_destroy(&v->lock);
}
