/* What acpi_s3.c and its real-mode waking code (acpi_s3_wake.S) share:
 * fixed addresses below 64 KiB, clear of the IVT, the BIOS data area and
 * SeaBIOS's resume stack (below 0x7000). */
#ifndef ACPI_S3_H
#define ACPI_S3_H

/* Not 16-byte aligned, so that firmware must split it as CS:IP =
 * 0x0800:0x0004 (ACPI 6.5 §5.2.10). */
#define S3_WAKE_VECTOR 0x8004
#define S3_GDT_PTR     0x8800 /* lgdt operand: limit, base */
#define S3_SEEN_CS     0x8810 /* what the waking code found */
#define S3_SEEN_DS     0x8812
#define S3_SEEN_IP     0x8814
#define S3_SEEN_CR0    0x8818
#define S3_SEEN_EFLAGS 0x881c
#define S3_SEL_CODE    0x08
#define S3_SEL_DATA    0x10

#endif
