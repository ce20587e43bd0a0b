/*
 * Shared by modes.S and modes.c: what each CPU mode's code measured, as
 * 32-bit slots of modes_results[], checked by modes.c in 64-bit mode.
 */
#ifndef MODES_H
#define MODES_H

#define R_REAL_CS      0 /* CS in real mode */
#define R_REAL_PUSHF   1 /* bytes PUSHF pushed in real mode */
#define R_REAL_MSW     2 /* SMSW: the low 16 bits of CR0 */
#define R_REAL_SEGMENT 3 /* a word written through ES, read back through DS */
#define R_PM_CS        4
#define R_PM_PUSHF     5
#define R_PM_CR0       6
#define R_COMPAT_CS    7 /* compatibility mode: long mode with a 32-bit CS */
#define R_COMPAT_PUSHF 8
#define R_COMPAT_EFER  9
#define R_LONG_PUSHF   10
#define R_COUNT        11

#define R_SEGMENT_MAGIC 0x1234

#endif
