/*
 * ACPI table headers for the guests that read vx86's tables (ACPI 6.5
 * §5.2.6, the system description table header).
 */
#ifndef GUEST_ACPI_H
#define GUEST_ACPI_H

#include <stdint.h>

struct __attribute__((packed)) sdt {
    char signature[4];
    uint32_t length;
    uint8_t revision, checksum;
    char oem_id[6], oem_table_id[8];
    uint32_t oem_revision, creator_id, creator_revision;
};

#endif
