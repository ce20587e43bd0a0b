/*
 * cloud-init's NoCloud seed (--cloud-init): a small read-only volume
 * labelled "cidata" whose root holds the files user-data, meta-data and,
 * if given, network-config; cloud-init's NoCloud data source finds it by
 * its label and reads them. It is what `cloud-localds` (cloud-utils) makes
 * with genisoimage for QEMU, built here in memory as ISO 9660 with Joliet
 * names (block/iso9660.h): the format cloud-localds writes by default,
 * read-only by nature, and which Linux's isofs, the BSDs' cd9660 and
 * Windows read with names exact.
 */
#ifndef VX86_BLOCK_NOCLOUD_H
#define VX86_BLOCK_NOCLOUD_H

#include <stddef.h>
#include <stdint.h>

#include "vm/vm.h"

/* The most bytes a seed file may hold: a seed is configuration, and
 * cloud-init's own user-data is mostly a few KiB. */
#define NOCLOUD_FILE_MAX (1u << 20)

/* The volume label cloud-init looks for (it accepts CIDATA too). */
#define NOCLOUD_LABEL "cidata"

/*
 * Reads the files of ci (ci->user_data required; a file of any size up to
 * NOCLOUD_FILE_MAX, a pipe too) and builds the seed into a malloc'ed *img
 * of *len bytes. Without ci->meta_data the seed's meta-data is
 *
 *     instance-id: iid-vx86-HASH
 *     local-hostname: vx86
 *
 * HASH being 16 hex digits of the user-data's FNV-1a hash: the same
 * user-data keeps its instance id across boots, and new user-data is a new
 * instance, for which cloud-init runs its per-instance modules again.
 * The volume's dates are the user-data file's modification time, so the
 * same files give the same image. A bad file gets one line naming the
 * option and the file; returns 0, -EINVAL (bad input) or -ENOMEM.
 */
int nocloud_build(const struct vm_cloud_init *ci, uint8_t **img, size_t *len);

/*
 * The glue to virtio-blk until the block layer takes images from memory:
 * builds the seed of cfg->cloud_init into a sealed memfd that stays open
 * for vx86's life (so a --on-reboot restart reopens the same bytes), and
 * appends it as the last, read-only disk of cfg, on the path
 * /proc/self/fd/N (cfg->cloud_init.path). Returns 0, -EINVAL (bad input,
 * no disk slot left; one line said why) or another -errno (the host).
 */
int nocloud_attach(struct vm_config *cfg);

#endif
