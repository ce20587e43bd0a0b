/* Shared by taskswitch.c and taskswitch_tasks.S: selectors, and what each
 * task records of the state it was entered with (seen arrays of dwords). */
#ifndef TASKSWITCH_H
#define TASKSWITCH_H

#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define TSS_MAIN  0x18
#define TSS_A     0x20 /* entered with JMP */
#define TSS_B     0x28 /* entered with CALL */
#define TSS_DF    0x30 /* the #DF handler, through a task gate */
#define LDT_SEL   0x38 /* task A's LDT */
#define ALT_DS    0x40 /* a second data segment, for GS */
#define LDT_DS    0x04 /* index 0 of the LDT, RPL 0 */

#define TEST_VA 0x40000000 /* mapped to a different frame in task A's CR3 */

/* Indices in task_a_seen, task_b_seen, task_df_seen. */
#define SEEN_EAX    0
#define SEEN_ECX    1
#define SEEN_EDX    2
#define SEEN_EBX    3
#define SEEN_ESP    4
#define SEEN_EBP    5
#define SEEN_ESI    6
#define SEEN_EDI    7
#define SEEN_EFLAGS 8
#define SEEN_CS     9
#define SEEN_SS     10
#define SEEN_DS     11
#define SEEN_ES     12
#define SEEN_FS     13
#define SEEN_GS     14
#define SEEN_TR     15
#define SEEN_LDTR   16
#define SEEN_CR3    17
#define SEEN_FS0    18 /* the dword at FS:0 */
#define SEEN_TEST   19 /* the dword at TEST_VA */
#define SEEN_ERROR  20 /* the dword at ESP: #DF's error code */
#define SEEN_COUNT  21

/* The values task A loads before it jumps back, as TSS_A must then hold. */
#define A_OUT_EAX 0xa1a1a1a1
#define A_OUT_EBX 0xa2a2a2a2
#define A_OUT_ESI 0xa3a3a3a3
#define B_OUT_EAX 0xb0b0b0b0

#endif
