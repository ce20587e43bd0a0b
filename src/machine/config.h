/* Parsing of user-supplied values; each prints one line on a bad value. */
#ifndef VX86_MACHINE_CONFIG_H
#define VX86_MACHINE_CONFIG_H

#include <stdint.h>

#include "vm/vm.h"

/*
 * "256M", "1G", "512K", "1073741824B" or a plain number of MiB (QEMU's
 * convention). Accepts MEM_MIN_SIZE up to max bytes, rounded to 4 KiB.
 * Returns 0 or -EINVAL (after printing why).
 */
int config_parse_mem(const char *s, uint64_t max, uint64_t *out);

/* "auto", "kvm" or "emu". */
int config_parse_engine(const char *s, enum engine_choice *out);

/* "restart" or "exit". */
int config_parse_on_reboot(const char *s, enum on_reboot *out);

/* "mmio" or "pci". */
int config_parse_transport(const char *s, enum virtio_transport *out);

/* "on" or "off": whether the emu engine translates hot code (--jit). */
int config_parse_jit(const char *s, bool *off);

/* One --device NAME: "edu" (QEMU's edu, hw/edu.h), the only one so far;
 * sets its flag in cfg. */
int config_parse_device(const char *s, struct vm_config *cfg);

/* 1 to VM_MAX_CPUS. */
int config_parse_cpus(const char *s, int *out);

/* One --disk: "FILE[,OPTION]...", OPTION one of ro, snapshot, format=raw,
 * format=qcow2, backing=on, backing=off (struct block_opts), bootindex=N
 * (0-65535, struct vm_disk). Cuts s at
 * the first comma; the disk's path points into s. At most VM_MAX_DISKS of
 * them (cfg->nr_disks). */
int config_parse_disk(char *s, struct vm_config *cfg);

/*
 * --cloud-init USER_DATA[,meta-data=FILE][,network-config=FILE] (once):
 * the files of a NoCloud seed (block/nocloud.h), each named once. Cuts s
 * at its commas; cfg->cloud_init's paths point into s.
 */
int config_parse_cloud_init(char *s, struct vm_config *cfg);

/*
 * One --net: "tap=IFNAME[,mac=M]" or "user[,hostfwd=H]...[,mac=M]", where M
 * is six hex bytes "52:54:00:12:34:56" (the default), unicast, and H is
 * QEMU's "[tcp|udp]:[HOSTADDR]:HOSTPORT-[10.0.2.15]:GUESTPORT" (HOSTADDR
 * empty: any). Cuts s at its commas; cfg->net.ifname points into s.
 */
int config_parse_net(char *s, struct vm_config *cfg);

/* One --vsock: "cid=N,uds=PATH", both needed, N from 3 to 2^32 - 2 and
 * PATH at most VSOCK_UDS_MAX bytes (virtio/vsock.h); cfg->vsock_uds
 * points into s. */
int config_parse_vsock(char *s, struct vm_config *cfg);

/* One --profile: "FILE" or "FILE,map=PATH". Cuts s at the first comma;
 * cfg->profile and cfg->profile_map point into s. */
int config_parse_profile(char *s, struct vm_config *cfg);

#endif
