/* VT-d DMA translation (§3) and interrupt remapping (§5): see vtd.h. */
#include <errno.h>

#include "hw/iommu/vtd_regs.h"

/* §9.1-9.3: root and context entries, 16 bytes each; legacy mode only
 * (RTADDR.TTM 00). */
#define RTADDR_TTM      (3ULL << 10)
#define ENTRY_P         1ULL
#define ENTRY_ADDR      0x000ffffffffff000ULL /* bits 51:12, HAW 52 at most */
#define ROOT_RSVD_LO    0xffeULL
#define CTX_FPD         (1ULL << 1)
#define CTX_TT(lo)      ((lo) >> 2 & 3)
#define CTX_RSVD_LO     0xff0ULL
#define CTX_AW(hi)      ((hi)&7)
#define CTX_RSVD_HI     (0xffffffffff000080ULL)
#define TT_SECOND_LEVEL 0
#define TT_PASS_THROUGH 2

/* §9.8: second-level paging entries. */
#define SL_R          (1ULL << 0)
#define SL_W          (1ULL << 1)
#define SL_PS         (1ULL << 7)
#define SL_LEVEL_BITS 9

/* A translation that failed: the fault reason, or 0 when the context
 * entry asks for no fault reporting. */
struct miss {
    unsigned reason;
    bool quiet;
};

/* The guest physical address of iova for a DMA by sid and how many bytes
 * from it lie in the same page (*span), or a fault in *m. With v->lock. */
static int translate(struct vtd *v, uint16_t sid, uint64_t iova, bool write, uint64_t *gpa,
                     uint64_t *span, struct miss *m)
{
    uint64_t re[2], ce[2], table, perm = SL_R | SL_W;
    unsigned levels;

    if (!(v->gsts & VTD_GCMD_TE)) {
        *gpa = iova;
        *span = 4096 - (iova & 4095);
        return 0;
    }
    if (v->root & RTADDR_TTM)
        return m->reason = VTD_FR_ROOT_ACCESS, -EFAULT;
    if (mem_read(v->mem, (v->root & ENTRY_ADDR) + (sid >> 8) * 16ULL, re, sizeof(re)))
        return m->reason = VTD_FR_ROOT_ACCESS, -EFAULT;
    if (!(re[0] & ENTRY_P))
        return m->reason = VTD_FR_ROOT_P, -EFAULT;
    if ((re[0] & ROOT_RSVD_LO) || re[1])
        return m->reason = VTD_FR_ROOT_RSVD, -EFAULT;
    if (mem_read(v->mem, (re[0] & ENTRY_ADDR) + (sid & 0xff) * 16ULL, ce, sizeof(ce)))
        return m->reason = VTD_FR_CTX_ACCESS, -EFAULT;
    if (!(ce[0] & ENTRY_P))
        return m->reason = VTD_FR_CTX_P, -EFAULT;
    m->quiet = ce[0] & CTX_FPD;
    if ((ce[0] & CTX_RSVD_LO) || (ce[1] & CTX_RSVD_HI))
        return m->reason = VTD_FR_CTX_RSVD, -EFAULT;
    if (CTX_TT(ce[0]) == TT_PASS_THROUGH) {
        *gpa = iova;
        *span = 4096 - (iova & 4095);
        return 0;
    }
    /* Device TLBs (TT 1) are not offered; 3 is reserved. */
    if (CTX_TT(ce[0]) != TT_SECOND_LEVEL)
        return m->reason = VTD_FR_CTX_TT, -EFAULT;
    /* AW 1: 39 bits, 3 levels; 2: 48 bits, 4 levels (CAP.SAGAW). */
    if (CTX_AW(ce[1]) != 1 && CTX_AW(ce[1]) != 2)
        return m->reason = VTD_FR_CTX_INV, -EFAULT;
    levels = CTX_AW(ce[1]) + 2;
    if (iova >> (12 + SL_LEVEL_BITS * levels))
        return m->reason = VTD_FR_ADDR_WIDTH, -EFAULT;
    table = ce[0] & ENTRY_ADDR;
    for (unsigned level = levels;; level--) {
        unsigned shift = 12 + SL_LEVEL_BITS * (level - 1);
        uint64_t pte, size = 1ULL << shift;

        if (mem_read(v->mem, table + (iova >> shift & 511) * 8, &pte, sizeof(pte)))
            return m->reason = VTD_FR_PTE_ACCESS, -EFAULT;
        perm &= pte;
        /* An entry with neither R nor W is not present (§9.8). */
        if (!(pte & (SL_R | SL_W)))
            break;
        /* PS is a large page at levels 2 (2 MiB) and 3 (1 GiB),
         * CAP.SLLPS; reserved at 4. */
        if (level == 4 && (pte & SL_PS))
            return m->reason = VTD_FR_PTE_RSVD, -EFAULT;
        if (level == 1 || (pte & SL_PS)) {
            *gpa = (pte & ENTRY_ADDR & ~(size - 1)) | (iova & (size - 1));
            *span = size - (iova & (size - 1));
            break;
        }
        table = pte & ENTRY_ADDR;
    }
    if (!(perm & (write ? SL_W : SL_R)))
        return m->reason = write ? VTD_FR_WRITE : VTD_FR_READ, -EFAULT;
    return 0;
}

int vtd_dma(struct vtd *v, uint16_t sid, uint64_t iova, void *buf, uint64_t len, bool write)
{
    uint8_t *p = buf;
    int err = 0;

    pthread_mutex_lock(&v->lock);
    while (len && !err) {
        struct miss m = {0};
        uint64_t gpa = 0, span = 0;

        err = translate(v, sid, iova, write, &gpa, &span, &m);
        if (err) {
            if (!m.quiet)
                vtd_fault(v, sid, m.reason, iova, write);
            break;
        }
        span = span < len ? span : len;
        err = write ? mem_write(v->mem, gpa, p, span) : mem_read(v->mem, gpa, p, span);
        if (!err && write)
            v->ops->written(v->opaque, gpa, span);
        p += span, len -= span;
        /* iova + span may wrap at 2^64; the next translation faults on
         * its address width then. */
        iova += span;
    }
    vtd_unlock(v);
    return err;
}

/* §5.1.2.2 remappable MSI address: 0xFEE in bits 31:20, handle[14:0] in
 * 19:5, format 1 in bit 4, SHV in bit 3, handle[15] in bit 2. */
#define MSI_FORMAT_REMAP (1ULL << 4)
#define MSI_SHV          (1ULL << 3)
#define MSI_HANDLE(a)    (((a) >> 5 & 0x7fff) | ((a) >> 2 & 1) << 15)

/* §9.10 IRTE (remapped format), low quadword; high: SID 15:0, SQ 17:16,
 * SVT 19:18. */
#define IRTE_P          (1ULL << 0)
#define IRTE_FPD        (1ULL << 1)
#define IRTE_DM         (1ULL << 2)
#define IRTE_RH         (1ULL << 3)
#define IRTE_TM         (1ULL << 4)
#define IRTE_DLM(lo)    ((lo) >> 5 & 7)
#define IRTE_IM         (1ULL << 15) /* posted: not offered */
#define IRTE_VECTOR(lo) ((lo) >> 16 & 0xff)
#define IRTE_DST(lo)    ((lo) >> 40 & 0xff) /* xAPIC mode: DST bits 15:8 */
#define IRTE_RSVD_LO    (0x7000ULL | 0xff000000ULL)
#define IRTE_SVT(hi)    ((hi) >> 18 & 3)
#define IRTE_SQ(hi)     ((hi) >> 16 & 3)
#define IRTE_RSVD_HI    (~0xfffffULL)

/* §9.10 Table 20: source-id verification against the IRTE's SID/SQ/SVT. */
static bool sid_ok(uint64_t hi, int sid)
{
    static const uint16_t sq_mask[4] = {0xffff, 0xfffb, 0xfff9, 0xfff8};
    uint16_t want = (uint16_t)hi;

    if (sid < 0)
        return true;
    switch (IRTE_SVT(hi)) {
    case 0:
        return true;
    case 1:
        return ((sid ^ want) & sq_mask[IRTE_SQ(hi)]) == 0;
    case 2: /* the bus number between SID[15:8] and SID[7:0] */
        return (sid >> 8) >= (want >> 8) && (sid >> 8) <= (want & 0xff);
    }
    return false;
}

/* The remapped message for a request that passed, or a fault reason, with
 * *index the IRTE used. With v->lock. */
static unsigned remap(struct vtd *v, int sid, uint64_t *addr, uint32_t *data, uint64_t *index,
                      bool *quiet)
{
    uint64_t irte[2], entries = 2ULL << (v->irt & VTD_IRTA_S);
    uint64_t a = *addr;

    *index = MSI_HANDLE(a);
    if (!(a & MSI_FORMAT_REMAP))
        return v->gsts & VTD_GCMD_CFI ? 0 : VTD_FR_IR_COMPAT;
    if (a & MSI_SHV) {
        if (*data >> 16)
            return VTD_FR_IR_REQ_RSVD;
        *index += *data & 0xffff;
    }
    if (*index >= entries)
        return VTD_FR_IR_INDEX;
    if (mem_read(v->mem, (v->irt & VTD_IRTA_ADDR) + *index * 16, irte, sizeof(irte)))
        return VTD_FR_IR_ACCESS;
    if (!(irte[0] & IRTE_P))
        return VTD_FR_IR_P;
    *quiet = irte[0] & IRTE_FPD;
    if ((irte[0] & (IRTE_RSVD_LO | IRTE_IM)) || (irte[1] & IRTE_RSVD_HI) || IRTE_SVT(irte[1]) == 3)
        return VTD_FR_IR_RSVD;
    if (!sid_ok(irte[1], sid))
        return VTD_FR_IR_SID;
    /* The compatibility-format message the LAPICs take (SDM Vol. 3A
     * §11.11): destination, RH, DM; vector, delivery and trigger mode,
     * and level asserted for level-triggered ones. */
    *addr = 0xfee00000ULL | IRTE_DST(irte[0]) << 12 | (irte[0] & IRTE_RH) | (irte[0] & IRTE_DM);
    *data = (uint32_t)(IRTE_VECTOR(irte[0]) | IRTE_DLM(irte[0]) << 8 |
                       (irte[0] & IRTE_TM ? 0xc000u : 0));
    return 0;
}

int vtd_msi_remap(struct vtd *v, int sid, uint64_t *addr, uint32_t *data)
{
    uint64_t index = 0;
    bool quiet = false;
    unsigned reason = 0;

    /* Only writes to the interrupt window are interrupt requests. */
    if ((*addr >> 20) != 0xfee)
        return 0;
    pthread_mutex_lock(&v->lock);
    if (v->gsts & VTD_GCMD_IRE)
        reason = remap(v, sid, addr, data, &index, &quiet);
    if (reason && !quiet)
        vtd_fault(v, sid < 0 ? 0 : (uint16_t)sid, reason, index << 48, true);
    vtd_unlock(v);
    return reason ? -EPERM : 0;
}
