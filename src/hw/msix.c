#include "hw/msix.h"

#include <errno.h>
#include <string.h>

/* The capability (§6.8.2, Figure 6-10): ID and next, Message Control, then
 * the table's and the PBA's offset with the BAR index in bits 2:0. */
#define MSIX_CAP_LEN     12
#define MSIX_CAP_CONTROL 2
#define MSIX_CAP_TABLE   4
#define MSIX_CAP_PBA     8

int msix_init(struct msix *m, struct pci_device *d, unsigned nvec, unsigned bar, uint32_t table_off,
              uint32_t pba_off, msix_send_fn *send, msix_route_fn *route, void *opaque)
{
    unsigned cap;
    int err;

    if (!nvec || nvec > MSIX_MAX_VECTORS || bar >= PCI_NR_BARS || (table_off & 7) || (pba_off & 7))
        return -EINVAL;
    cap = pci_add_cap(d, PCI_CAP_ID_MSIX, MSIX_CAP_LEN);
    if (!cap)
        return -ENOSPC;
    memset(m, 0, sizeof(*m));
    err = pthread_mutex_init(&m->lock, NULL);
    if (err)
        return -err;
    m->send = send;
    m->route = route;
    m->opaque = opaque;
    m->cap = cap;
    m->nvec = nvec;
    for (unsigned i = 0; i < nvec; i++)
        m->table[i].ctrl = MSIX_ENTRY_MASKED;
    d->cfg[cap + MSIX_CAP_CONTROL] = (uint8_t)(nvec - 1);
    d->wmask[cap + MSIX_CAP_CONTROL + 1] = (MSIX_CTRL_ENABLED | MSIX_CTRL_MASKED) >> 8;
    for (int i = 0; i < 4; i++) {
        d->cfg[cap + MSIX_CAP_TABLE + i] = (uint8_t)((table_off | bar) >> (8 * i));
        d->cfg[cap + MSIX_CAP_PBA + i] = (uint8_t)((pba_off | bar) >> (8 * i));
    }
    return 0;
}

void msix_destroy(struct msix *m)
{
    pthread_mutex_destroy(&m->lock);
}

static bool can_fire(const struct msix *m, unsigned vec)
{
    return m->enabled && !m->masked && !(m->table[vec].ctrl & MSIX_ENTRY_MASKED);
}

static void fire(struct msix *m, unsigned vec)
{
    const struct msix_entry *e = &m->table[vec];

    m->pending &= ~(1ULL << vec);
    m->send(m->opaque, vec, (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data);
}

/* A mask was lifted: what waited goes out (§6.8.3.4). m->lock held. */
static void flush_pending(struct msix *m)
{
    for (unsigned i = 0; i < m->nvec; i++)
        if ((m->pending & (1ULL << i)) && can_fire(m, i))
            fire(m, i);
}

void msix_cfg_write(struct msix *m, const struct pci_device *d, unsigned off, unsigned size)
{
    unsigned ctl = m->cap + MSIX_CAP_CONTROL + 1;

    if (off > ctl || off + size <= ctl)
        return;
    pthread_mutex_lock(&m->lock);
    m->enabled = d->cfg[ctl] & (MSIX_CTRL_ENABLED >> 8);
    m->masked = d->cfg[ctl] & (MSIX_CTRL_MASKED >> 8);
    flush_pending(m);
    pthread_mutex_unlock(&m->lock);
}

static bool access_ok(const struct msix *m, uint64_t off, unsigned size)
{
    return (size == 4 || size == 8) && !(off & (size - 1)) &&
           off + size <= (uint64_t)m->nvec * MSIX_ENTRY_SIZE;
}

uint64_t msix_table_read(struct msix *m, uint64_t off, unsigned size)
{
    uint64_t v = 0;

    if (!access_ok(m, off, size))
        return 0;
    pthread_mutex_lock(&m->lock);
    memcpy(&v, (const uint8_t *)m->table + off, size);
    pthread_mutex_unlock(&m->lock);
    return v;
}

void msix_table_write(struct msix *m, uint64_t off, unsigned size, uint64_t value)
{
    unsigned vec = (unsigned)(off / MSIX_ENTRY_SIZE);

    if (!access_ok(m, off, size))
        return;
    pthread_mutex_lock(&m->lock);
    memcpy((uint8_t *)m->table + off, &value, size);
    m->table[vec].ctrl &= MSIX_ENTRY_MASKED; /* the other bits are reserved */
    if (m->route && off % MSIX_ENTRY_SIZE < 12)
        m->route(m->opaque, vec, (uint64_t)m->table[vec].addr_hi << 32 | m->table[vec].addr_lo,
                 m->table[vec].data);
    flush_pending(m);
    pthread_mutex_unlock(&m->lock);
}

uint64_t msix_pba_read(struct msix *m, uint64_t off, unsigned size)
{
    uint64_t v;

    if ((size != 4 && size != 8) || (off & (size - 1)) || off >= 8)
        return 0;
    pthread_mutex_lock(&m->lock);
    v = m->pending >> (8 * off);
    pthread_mutex_unlock(&m->lock);
    return size == 4 ? (uint32_t)v : v;
}

bool msix_enabled(struct msix *m)
{
    bool on;

    pthread_mutex_lock(&m->lock);
    on = m->enabled;
    pthread_mutex_unlock(&m->lock);
    return on;
}

void msix_notify(struct msix *m, unsigned vec)
{
    if (vec >= m->nvec)
        return;
    pthread_mutex_lock(&m->lock);
    if (can_fire(m, vec))
        fire(m, vec);
    else
        m->pending |= 1ULL << vec;
    pthread_mutex_unlock(&m->lock);
}
