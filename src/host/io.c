/* I/O virtualization: IOMMU units and groups, SR-IOV capable PCI devices. */
#include "host/probe.h"

#include <stdlib.h>
#include <string.h>

void host_probe_iommu(struct host_iommu *iommu)
{
    struct dirent **groups;
    int n = host_scandir("/sys/kernel/iommu_groups", &groups);

    iommu->groups = n < 0 ? -1 : n;
    if (n >= 0)
        host_freedir(groups, n);
    n = host_scandir("/sys/class/iommu", &iommu->unit);
    iommu->nunits = n < 0 ? -1 : n;
    if (n < 0)
        iommu->unit = NULL;
}

/* A count from sysfs, or -1 when the file is missing or not a number. */
static int read_count(const char *path)
{
    char buf[32], *end;
    long v;

    if (host_read_line(path, buf, sizeof(buf)))
        return -1;
    v = strtol(buf, &end, 10);
    return end == buf || *end || v < 0 || v > 1 << 20 ? -1 : (int)v;
}

void host_probe_sriov(struct host_sriov *sriov)
{
    struct dirent **pci;
    int n = host_scandir("/sys/bus/pci/devices", &pci);
    char path[384];

    *sriov = (struct host_sriov){.readable = n >= 0};
    if (n <= 0)
        return;
    sriov->dev = calloc((size_t)n, sizeof(*sriov->dev));
    for (int i = 0; sriov->dev && i < n; i++) {
        struct sriov_dev *dev = &sriov->dev[sriov->ndevs];

        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/sriov_totalvfs", pci[i]->d_name);
        if (!host_exists(path))
            continue;
        snprintf(dev->addr, sizeof(dev->addr), "%s", pci[i]->d_name);
        dev->total_vfs = read_count(path);
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/sriov_numvfs", pci[i]->d_name);
        dev->num_vfs = read_count(path);
        sriov->ndevs++;
    }
    if (!sriov->dev)
        sriov->readable = false;
    host_freedir(pci, n);
}
