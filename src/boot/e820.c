#include "boot/boot.h"
#include "boot/layout.h"
#include "hw/pci.h"
#include "vm/board.h"

/* The PC memory map: conventional memory up to the EBDA, the EBDA and the
 * BIOS area (where the ACPI and MP tables lie, layout.h) reserved, RAM from
 * 1 MiB to the MMIO hole and above 4 GiB. The VGA window between them is no
 * RAM to the guest, as on a PC. The PCI ECAM window is reserved too: Linux
 * uses the MCFG's window only where the firmware reserved it (PCI Firmware
 * Specification 3.3 §4.1.2, note on the MCFG; Linux's
 * pci_mmcfg_check_reserved()). */
int e820_build(const struct guest_mem *mem, struct e820_entry *map)
{
    const struct mem_region *low = &mem->regions[0];
    int n = 0;

    map[n++] = (struct e820_entry){0, 0x9fc00, E820_RAM};
    map[n++] = (struct e820_entry){0x9fc00, 0x400, E820_RESERVED};
    map[n++] = (struct e820_entry){BOOT_BIOS_AREA, BOOT_BIOS_END - BOOT_BIOS_AREA, E820_RESERVED};
    if (low->size > 0x100000)
        map[n++] = (struct e820_entry){0x100000, low->size - 0x100000, E820_RAM};
    map[n++] = (struct e820_entry){BOARD_PCI_ECAM_BASE, BOARD_PCI_ECAM_SIZE, E820_RESERVED};
    if (mem->nr_regions > 1)
        map[n++] = (struct e820_entry){mem->regions[1].gpa, mem->regions[1].size, E820_RAM};
    return n;
}
