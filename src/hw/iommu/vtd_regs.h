/*
 * VT-d register layout and bits (VT-d spec §11.4), and what vtd.c (the
 * registers, invalidation queue and fault log) offers vtd_remap.c (the
 * translations). Private to src/hw/iommu.
 */
#ifndef VX86_HW_IOMMU_VTD_REGS_H
#define VX86_HW_IOMMU_VTD_REGS_H

#include "hw/iommu/vtd.h"

/* §11.4: register offsets. */
#define VTD_VER     0x00
#define VTD_CAP     0x08
#define VTD_ECAP    0x10
#define VTD_GCMD    0x18
#define VTD_GSTS    0x1c
#define VTD_RTADDR  0x20
#define VTD_CCMD    0x28
#define VTD_FSTS    0x34
#define VTD_FECTL   0x38
#define VTD_FEDATA  0x3c
#define VTD_FEADDR  0x40
#define VTD_FEUADDR 0x44
#define VTD_IQH     0x80
#define VTD_IQT     0x88
#define VTD_IQA     0x90
#define VTD_ICS     0x9c
#define VTD_IECTL   0xa0
#define VTD_IEDATA  0xa4
#define VTD_IEADDR  0xa8
#define VTD_IEUADDR 0xac
#define VTD_IRTA    0xb8
#define VTD_IVA     0x200 /* ECAP.IRO: the IOTLB registers */
#define VTD_IOTLB   0x208
#define VTD_FRCD    0x220 /* CAP.FRO: the fault recording register */

/* §11.4.4-5: GCMD and GSTS share bit positions. */
#define VTD_GCMD_TE    (1u << 31)
#define VTD_GCMD_SRTP  (1u << 30)
#define VTD_GCMD_SFL   (1u << 29)
#define VTD_GCMD_EAFL  (1u << 28)
#define VTD_GCMD_WBF   (1u << 27)
#define VTD_GCMD_QIE   (1u << 26)
#define VTD_GCMD_IRE   (1u << 25)
#define VTD_GCMD_SIRTP (1u << 24)
#define VTD_GCMD_CFI   (1u << 23)

/* §11.4.9 FSTS. */
#define VTD_FSTS_PFO (1u << 0)
#define VTD_FSTS_PPF (1u << 1)
#define VTD_FSTS_IQE (1u << 4)
#define VTD_FSTS_W1C (VTD_FSTS_PFO | 1u << 2 | 1u << 3 | VTD_FSTS_IQE | 1u << 5 | 1u << 6)
/* FECTL and IECTL: interrupt mask and pending. */
#define VTD_CTL_IM  (1u << 31)
#define VTD_CTL_IP  (1u << 30)
#define VTD_ICS_IWC 1u

/* §11.4.14 FRCD, high quadword. */
#define VTD_FRCD_F     (1ULL << 63)
#define VTD_FRCD_T     (1ULL << 62) /* 1: a read request */
#define VTD_FRCD_FR(r) ((uint64_t)(r) << 32)

/* Fault reasons (§7.1.3 Table 26 and §7.1.4 Table 27). */
enum {
    VTD_FR_ROOT_P = 0x1,
    VTD_FR_CTX_P = 0x2,
    VTD_FR_CTX_INV = 0x3,
    VTD_FR_ADDR_WIDTH = 0x4,
    VTD_FR_WRITE = 0x5,
    VTD_FR_READ = 0x6,
    VTD_FR_PTE_ACCESS = 0x7,
    VTD_FR_ROOT_ACCESS = 0x8,
    VTD_FR_CTX_ACCESS = 0x9,
    VTD_FR_ROOT_RSVD = 0xa,
    VTD_FR_CTX_RSVD = 0xb,
    VTD_FR_PTE_RSVD = 0xc,
    VTD_FR_CTX_TT = 0xd,
    VTD_FR_IR_REQ_RSVD = 0x20,
    VTD_FR_IR_INDEX = 0x21,
    VTD_FR_IR_P = 0x22,
    VTD_FR_IR_ACCESS = 0x23,
    VTD_FR_IR_RSVD = 0x24,
    VTD_FR_IR_COMPAT = 0x25,
    VTD_FR_IR_SID = 0x26,
};

/* IRTA (§11.4.17): table address, EIME, size 2^(S + 1) entries. */
#define VTD_IRTA_S    0xfULL
#define VTD_IRTA_ADDR (~0xfffULL)

/* Records a fault by requester sid (§7.2.1) and asks for the fault event;
 * info: the faulting page for DMA, index << 48 for interrupts. With
 * v->lock held. */
void vtd_fault(struct vtd *v, uint16_t sid, unsigned reason, uint64_t info, bool write);

/* Releases v->lock, then sends the events asked for meanwhile. */
void vtd_unlock(struct vtd *v);

#endif
