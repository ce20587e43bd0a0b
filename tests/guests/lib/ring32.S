/* ring32_enter and ring32_leave (desc32.h): a way out of CPL 0 with IRET and
 * back in from a trap handler, which resumes ring32_enter's caller. */
    .text
    .code32

/* uint32_t ring32_enter(const uint32_t *frame, unsigned words) */
    .globl ring32_enter
ring32_enter:
    push %ebp
    push %ebx
    push %esi
    push %edi
    mov %esp, saved_esp
    mov 20(%esp), %esi
    mov 24(%esp), %ecx
1:  pushl -4(%esi,%ecx,4)
    dec %ecx
    jnz 1b
    iret

/* void ring32_leave(uint32_t value): from a trap handler at CPL 0, whose
 * SS is the kernel's data segment; DS to GS may hold anything. */
    .globl ring32_leave
ring32_leave:
    mov 4(%esp), %eax
    mov %ss, %edx
    mov %edx, %ds
    mov %edx, %es
    mov %edx, %fs
    mov %edx, %gs
    mov saved_esp, %esp
    pop %edi
    pop %esi
    pop %ebx
    pop %ebp
    ret

    .bss
    .balign 4
saved_esp: .long 0
