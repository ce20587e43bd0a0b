#include "hw/msi.h"

#include <string.h>

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

unsigned msi_add_cap(struct pci_device *d)
{
    unsigned cap = pci_add_cap(d, PCI_CAP_ID_MSI, MSI_CAP_LEN);

    if (!cap)
        return 0;
    /* One message (Multiple Message Capable 0), so Multiple Message
     * Enable stays 0 too; only the enable bit is software's. */
    d->cfg[cap + MSI_CTRL] = MSI_CTRL_64BIT;
    d->wmask[cap + MSI_CTRL] = MSI_CTRL_ENABLE;
    /* The address is DWORD aligned: bits 1:0 read 0 (§6.8.1.4). */
    put32(d->wmask + cap + MSI_ADDR_LO, ~3u);
    put32(d->wmask + cap + MSI_ADDR_HI, ~0u);
    d->wmask[cap + MSI_DATA] = 0xff;
    d->wmask[cap + MSI_DATA + 1] = 0xff;
    return cap;
}

bool msi_message(const struct pci_device *d, unsigned cap, uint64_t *addr, uint32_t *data)
{
    uint32_t lo, hi;
    uint16_t v;

    if (!cap || !(d->cfg[cap + MSI_CTRL] & MSI_CTRL_ENABLE))
        return false;
    memcpy(&lo, d->cfg + cap + MSI_ADDR_LO, 4);
    memcpy(&hi, d->cfg + cap + MSI_ADDR_HI, 4);
    memcpy(&v, d->cfg + cap + MSI_DATA, 2);
    *addr = (uint64_t)hi << 32 | lo;
    *data = v;
    return true;
}
