/* Shared by v86.c and v86_code.S: where the virtual-8086 programs run and
 * where they leave their results. */
#ifndef V86_H
#define V86_H

/* Real-mode-style segments: base = selector << 4 (SDM Vol. 3A §20.1.1). */
#define V86_CODE_SEG  0x2000 /* v86_code is copied to its base, 0x20000 */
#define V86_DATA_SEG  0x3000 /* DS and ES at entry: the results */
#define V86_STACK_SEG 0x4000
#define V86_STACK_TOP 0xfff0
#define V86_FS        0x1234 /* FS and GS at entry: any value goes in v86 mode */
#define V86_GS        0x5678

/* Offsets of results in the data segment, written by the v86 programs. */
#define R_SEGARITH  0x00 /* a word written at 3000:0100, read at 3010:0000 */
#define R_FAR_CS    0x02 /* CS in a far-called routine */
#define R_FAR_RETCS 0x04 /* the CS the far call pushed */
#define R_FAR_RETIP 0x06 /* the IP the far call pushed */
#define R_CS        0x08 /* CS after the far return */
#define R_FLAGS     0x0a /* PUSHF */
#define R_POPF      0x0c /* PUSHF after POPF of DF alone */
#define R_STI       0x0e /* PUSHF after STI */
#define R_CLI       0x10 /* PUSHF after CLI */
#define R_PUSHFD    0x12 /* PUSHFD, 4 bytes */
#define R_INT       0x16 /* AX after INT 0x30 */
#define R_SP        0x18 /* SP after INT 0x30 */
#define R_ES        0x1a /* ES after INT 0x30 */
#define R_IO        0x1c /* IN from the port written */
#define R_SIZE      0x20

#define SCRATCH_PORT 0x3ff /* COM1's scratch register, the one port allowed */
#define DENIED_PORT  0x3fe

#endif
