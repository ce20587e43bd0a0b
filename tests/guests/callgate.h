/* Shared by callgate.c and callgate_code.S: the GDT's selectors. */
#ifndef CALLGATE_H
#define CALLGATE_H

#define KERNEL_CS   0x08
#define KERNEL_DS   0x10
#define USER_CS     0x1b
#define USER_DS     0x23
#define TSS_SEL     0x28
#define GATE_KERNEL 0x30 /* DPL 3, to gate_entry at CPL 0, 2 parameters */
#define GATE_DPL0   0x38 /* DPL 0, to gate_entry */
#define GATE_ABSENT 0x40 /* DPL 3, not present */
#define GATE_SAME   0x48 /* DPL 3, to same_entry in USER_CS: no ring change */

#define PARAM1 0x11111111 /* pushed first */
#define PARAM2 0x22222222

#endif
