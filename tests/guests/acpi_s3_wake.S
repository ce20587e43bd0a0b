/* The waking vector of acpi_s3.c: real-mode code, copied below 1 MiB and
 * entered there by firmware (or vx86) on the resume from S3. It records
 * what it was entered with at S3_SEEN, loads the GDT whose pointer
 * acpi_s3.c left at S3_GDT_PTR, and goes back to 32-bit protected mode at
 * s3_resume32. Position-independent but for those absolute addresses. */
#include "acpi_s3.h"

    .section .rodata
    .code16
    .globl s3_wake16, s3_wake16_ip, s3_wake16_end
s3_wake16:
    cli
    mov %cs, %bx
    mov %ds, %cx
    xor %ax, %ax
    mov %ax, %ds
    mov %bx, S3_SEEN_CS
    mov %cx, S3_SEEN_DS
    mov %cr0, %eax
    mov %eax, S3_SEEN_CR0
    pushfl
    popl %eax
    mov %eax, S3_SEEN_EFLAGS
    call 1f
s3_wake16_ip:
1:  pop %ax
    mov %ax, S3_SEEN_IP
    lgdtl S3_GDT_PTR
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $S3_SEL_CODE, $s3_resume32
s3_wake16_end:

    .text
    .code32
s3_resume32:
    mov $S3_SEL_DATA, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ax, %fs
    mov %ax, %gs
    mov $s3_stack_top, %esp
    call s3_resumed
1:  hlt
    jmp 1b

    .section .bss
    .balign 16
    .space 8192
s3_stack_top:
