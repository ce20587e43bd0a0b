/* Shared by callgate64.c and callgate64_code.S: the GDT's selectors. Each
 * system descriptor of IA-32e mode takes two slots (SDM Vol. 3A §3.5). */
#ifndef CALLGATE64_H
#define CALLGATE64_H

#define KERNEL_CS   0x08
#define KERNEL_DS   0x10
#define USER_CS     0x1b
#define USER_DS     0x23
#define TSS_SEL     0x28
#define GATE_KERNEL 0x38 /* DPL 3, to gate_entry at CPL 0 */
#define GATE_DPL0   0x48 /* DPL 0, to gate_entry */
#define GATE_ABSENT 0x58 /* DPL 3, not present */
#define GATE_SAME   0x68 /* DPL 3, to same_entry in USER_CS: no ring change */
#define GATE_BADTOP 0x78 /* DPL 3, a non-zero type in its upper half */
#define GDT_SLOTS   0x88 / 8

#define USER_MARK 0x1234567890abcdefull /* in RBX across the call */

#endif
