// SPDX-License-Identifier: GPL-2.0
/*
 * Registers virtio-mmio platform devices from the kernel command line, as
 * Linux's own virtio_mmio.device= does when CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES
 * is set. Debian's kernel leaves that option off (it expects ACPI or a device
 * tree), so vx86's initramfs loads this module with the same strings:
 *
 *   insmod virtio_mmio_devices.ko device=<size>@<base>:<irq>[,...]
 *
 * Goes away once vx86 describes its devices in ACPI (LNRO0005).
 */
#include <linux/ioport.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/platform_device.h>

#define MAX_DEVICES 32

static char *device[MAX_DEVICES];
static int nr_device;
module_param_array(device, charp, &nr_device, 0444);
MODULE_PARM_DESC(device, "<size>@<base>:<irq>, as virtio_mmio.device=");

static struct platform_device *pdev[MAX_DEVICES];

static int __init add(int id, const char *s)
{
	struct resource res[2] = {};
	unsigned long long size, base;
	unsigned int irq;
	char *end;

	size = memparse(s, &end);
	if (*end != '@')
		return -EINVAL;
	if (sscanf(end + 1, "%llx:%u", &base, &irq) != 2 || !size)
		return -EINVAL;
	res[0].flags = IORESOURCE_MEM;
	res[0].start = base;
	res[0].end = base + size - 1;
	res[1].flags = IORESOURCE_IRQ;
	res[1].start = res[1].end = irq;
	pdev[id] = platform_device_register_resndata(NULL, "virtio-mmio", id, res, 2, NULL, 0);
	return PTR_ERR_OR_ZERO(pdev[id]);
}

static int __init virtio_mmio_devices_init(void)
{
	int i, err;

	for (i = 0; i < nr_device; i++) {
		err = add(i, device[i]);
		if (err) {
			pr_err("virtio_mmio_devices: %s: %d\n", device[i], err);
			pdev[i] = NULL;
		}
	}
	return 0;
}

static void __exit virtio_mmio_devices_exit(void)
{
	int i;

	for (i = 0; i < nr_device; i++)
		if (pdev[i])
			platform_device_unregister(pdev[i]);
}

module_init(virtio_mmio_devices_init);
module_exit(virtio_mmio_devices_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("virtio-mmio devices from the command line (vx86)");
