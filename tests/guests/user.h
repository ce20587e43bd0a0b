/* Shared by user.c and user_entry.S: the user guest's selectors and system calls. */
#ifndef USER_H
#define USER_H

/* GDT selectors. SYSCALL and SYSRET derive theirs from STAR (SDM Vol. 2B,
 * SYSCALL and SYSRET): kernel SS follows kernel CS; user SS and 64-bit user
 * CS follow a 32-bit user CS, in that order. */
#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define USER_CS32 0x1b
#define USER_DS   0x23
#define USER_CS   0x2b
#define TSS_SEL   0x30

/* System call numbers, in RAX for SYSCALL and INT 0x80. */
#define SYS_NOP 0
#define SYS_SUM 1 /* (a, b, c, d): a + 10 b + 100 c + 1000 d */

#define RFLAGS_FIXED 0x2 /* bit 1 is always set */

#endif
