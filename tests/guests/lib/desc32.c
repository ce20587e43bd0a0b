#include "desc32.h"

void gdt32_load(const uint64_t *gdt, unsigned entries, uint16_t cs, uint16_t ds)
{
    struct __attribute__((packed)) {
        uint16_t limit;
        uint32_t base;
    } gdtr = {(uint16_t)(entries * 8 - 1), (uint32_t)gdt};

    __asm__ volatile("lgdt %[gdtr]\n\t"
                     "pushl %[cs]\n\t"
                     "pushl $1f\n\t"
                     "lret\n"
                     "1:\tmov %[ds], %%ds\n\t"
                     "mov %[ds], %%es\n\t"
                     "mov %[ds], %%fs\n\t"
                     "mov %[ds], %%gs\n\t"
                     "mov %[ds], %%ss"
                     :
                     : [gdtr] "m"(gdtr), [cs] "r"((uint32_t)cs), [ds] "r"((uint32_t)ds)
                     : "memory");
}
