/*
 * struct vm: one virtual machine - its configuration, RAM, buses, devices,
 * engine and vCPU threads - and the rules for stopping it.
 *
 * Exit status of vx86 (also documented in README.md). Odd values belong to
 * the guest's debug-exit port, so vx86's own reasons are even:
 */
#ifndef VX86_VM_VM_H
#define VX86_VM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "accel/accel.h"
#include "block/block.h"
#include "hw/bus.h"
#include "util/token_bucket.h"
#include "virtio/virtio.h"
#include "vm/cpu_model.h"
#include "vm/mem.h"

enum vx86_status {
    VX86_OK = 0,           /* guest powered off or reset, or the user quit */
    VX86_EBADINPUT = 2,    /* bad command line, image or host set-up */
    VX86_ETRIPLEFAULT = 4, /* the guest triple-faulted */
    VX86_EINTERNAL = 6,    /* the engine cannot run the guest on (emulation failure) */
    VX86_EUNKNOWNEXIT = 8, /* an exit vx86 does not handle */
    VX86_EHOST = 10,       /* a host call failed while the guest ran */
};

#define VM_MAX_CPUS 64

enum engine_choice { ENGINE_AUTO, ENGINE_KVM, ENGINE_EMU };

/* What a guest reset does (--on-reboot): end vx86 with status 0, or start
 * the guest again from its kernel, as a PC restarts. */
enum on_reboot { ON_REBOOT_EXIT, ON_REBOOT_RESTART };
/* How the virtio devices reach the guest (--transport): virtio-mmio
 * windows described in the DSDT, or PCI functions on the host bridge. */
enum virtio_transport { TRANSPORT_MMIO, TRANSPORT_PCI };

/* Virtio devices on one VM: PCI bus 0's slots after the host bridge (each
 * transport has its own limit, virtio/devices.c: the free PCI slots, or
 * BOARD_VIRTIO_MMIO_SLOTS windows). */
#define VM_MAX_VIRTIO 31
/* The console and the rng take two of them. */
#define VM_MAX_DISKS (VM_MAX_VIRTIO - 2)

/* One --disk: its block_open options (block/block.h). */
struct vm_disk {
    const char *path;
    bool ro;
    enum block_format format;
    bool snapshot;
    bool backing;
    struct rate_limiter_cfg rl; /* the API's rate_limiter; zero: unlimited */
    const char *id; /* virtio-blk's GET_ID answer; NULL: the image's file name */
    /* bootindex=N: the firmware boot tries the disks with one first, lowest
     * N first, then the others in --disk order (fw_cfg's "bootorder"). */
    bool has_bootindex;
    unsigned bootindex;
};

/* --cloud-init: the files of a NoCloud seed (block/nocloud.h); user_data
 * NULL: none. path: where nocloud_attach put the built seed. */
struct vm_cloud_init {
    const char *user_data, *meta_data, *network_config;
    char path[32];
};

/* --net: none, a host TAP interface, or user-mode networking (libslirp). */
enum net_mode { NET_NONE, NET_TAP, NET_USER };

#define VM_MAX_HOSTFWD 8

/* One hostfwd=: connections to host_addr:host_port (host byte order; addr
 * 0 = any) go to the guest's guest_port. */
struct vm_hostfwd {
    bool udp;
    uint32_t host_addr;
    uint16_t host_port, guest_port;
};

struct vm_net {
    enum net_mode mode;
    const char *ifname; /* NET_TAP: an existing TAP interface */
    uint8_t mac[6];
    struct vm_hostfwd fwd[VM_MAX_HOSTFWD]; /* NET_USER */
    int nr_fwd;
    const char *hostname; /* NET_USER: the host name DHCP offers (option 12); NULL: none */
    struct rate_limiter_cfg rx_rl, tx_rl; /* the API's, to and from the guest; zero: unlimited */
};

struct vm_config {
    const char *kernel;
    /* Boot through this BIOS image instead of a kernel (--firmware, or
     * boot/firmware.h's default for --disk without --kernel); NULL: boot
     * the kernel. rom holds the image (run_guest reads it). */
    const char *firmware;
    const uint8_t *rom;
    size_t rom_size;
    const char *initrd;  /* NULL: none */
    const char *cmdline; /* never NULL */
    const char *serial;  /* "stdio" or a file to write the console to */
    uint64_t mem_size;
    int cpus;
    cpu_features_t cpu_off; /* the CPU model's features --cpu took away */
    enum cpu_vendor cpu_vendor;
    enum engine_choice engine;
    enum on_reboot on_reboot;
    enum virtio_transport transport;
    struct vm_disk disks[VM_MAX_DISKS];
    int nr_disks;
    struct vm_net net;
    struct vm_cloud_init cloud_init;
    /* --vsock: guest CID (0: no vsock device) and the host's Unix socket */
    uint32_t vsock_cid;
    const char *vsock_uds;
    bool testdev; /* --testdev: QEMU's pc-testdev and pci-testdev (hw/pc.h) */
    bool iommu;   /* --iommu: an Intel VT-d unit (hw/iommu/vtd.h), emu engine only */
    bool edu;     /* --device edu: QEMU's edu device (hw/edu.h) */
    bool jit_off; /* --jit off: the emu engine only interprets */
    const char *profile;     /* --profile FILE: the report's file; NULL: no profile */
    const char *profile_map; /* its map=PATH: kernel symbols; NULL: none */
    bool no_pit;  /* --no-pit: a PC without the 8254 PIT (QEMU's -machine pit=off) */
    /* The translator translates a block at its first run, not once it is
     * hot (as VX86_JIT_EAGER=1 does): for tests that compare it with the
     * interpreter. */
    bool jit_eager;
};

struct vcpu {
    struct vm *vm;
    int index;
    struct accel_vcpu *accel;
    pthread_t thread;
    bool started;
    unsigned woken; /* the vm's wakes this vCPU has been reset for */
};

struct pc;

struct vm {
    struct vm_config cfg;
    struct timespec start; /* process start, for the boot timer */
    /* The main thread's event loop (util/loop.h), set before vm_create:
     * device back ends that can wait without blocking (vsock's sockets)
     * watch their fds on it, from the main thread, and run there. */
    struct loop *loop;
    struct guest_mem mem;
    struct bus pio, mmio;
    const struct accel_ops *accel;
    void *accel_vm; /* the engine's per-VM state */
    struct vcpu vcpus[VM_MAX_CPUS];
    int nr_vcpus;
    struct pc *pc; /* the platform's devices, hw/pc.h */
    struct virtio_dev *virtio[VM_MAX_VIRTIO];
    int nr_virtio;
    struct virtio_ioevents *ioevents; /* virtio/ioevent.c; NULL until used */
    struct virtio_dev *hvc;           /* the virtio-console, where typed input goes too */

    atomic_bool stopping;
    int status; /* valid once stopping; written by the first stopper */
    bool reset; /* valid once stopping: the stop was a guest reset */
    /* SIGTERM/SIGINT/SIGHUP came (the main thread's loop), even after another
     * stop: a reset then does not restart the guest. */
    bool signalled;
    int stop_fd; /* eventfd, readable once stopping */

    /* vm_pause/vm_resume: pause_lock guards parked and the waits. */
    pthread_mutex_t pause_lock;
    pthread_cond_t pause_cond;
    atomic_bool pause_req; /* vCPU threads park at their next exit */
    int parked;            /* vCPU threads parked (or dozing, asleep) */

    /* vm_sleep/vm_wake: pause_lock guards these and the waits. */
    atomic_bool asleep;
    atomic_uint wakes;         /* how many vm_wake calls ended a sleep */
    struct cpu_state wake_bsp; /* vCPU 0's registers after the last wake */
    bool alarm_set;            /* alarm is a CLOCK_REALTIME time to call ring */
    struct timespec alarm;
    void (*ring)(void *opaque);
    void *ring_opaque;
};

/* Creates RAM, buses, platform devices and the engine's VM. On failure has
 * printed one line and returns -errno; vm_destroy is still safe. */
int vm_create(struct vm *vm, const struct vm_config *cfg, const struct accel_ops *accel);

/* Creates the vCPUs; vCPU 0 gets *boot, the others wait for a start IPI. */
int vm_create_vcpus(struct vm *vm, const struct cpu_state *boot);

/* Main thread: starts one thread per vCPU and runs loop, the console on it
 * (vm/console.h), until the VM stops; joins them, returns the exit status. */
struct loop;
int vm_run(struct vm *vm, struct loop *loop);

/*
 * Pauses the guest (the control plane's PATCH /vm): every vCPU thread
 * parks at its next exit (kicked out of a run or a halt) and stays parked
 * until vm_resume; devices go on. Returns once all are parked, or with
 * -ESHUTDOWN if the VM stops first. Any thread but a vCPU's; pausing a
 * paused VM or resuming a running one is harmless. Guest time goes on
 * while paused (the clocks follow the host's), as on Firecracker.
 */
int vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);

void vm_destroy(struct vm *vm);

/*
 * ACPI S3, suspend to RAM (hw/acpi_pm.h): every vCPU thread stops at its
 * next exit (the caller's own, if it is one, comes at once: no instruction
 * runs after the one that asked) and stays stopped, RAM and devices as
 * they are, until vm_wake. With alarm (CLOCK_REALTIME), vCPU 0's thread
 * calls ring(opaque) at that time, without locks, unless woken before:
 * the wake-up alarm, which may call vm_wake. Any thread; a VM asleep
 * counts as paused for vm_pause, and vm_stop ends it.
 */
void vm_sleep(struct vm *vm, const struct timespec *alarm, void (*ring)(void *opaque),
              void *opaque);

/*
 * Ends a sleep: each vCPU thread resets its vCPU (accel.h's vcpu_reset)
 * before it runs again, vCPU 0 to run at *bsp (firmware's jump to the
 * waking vector), the others waiting for a start-up IPI. Any thread; a VM
 * that is not asleep is left alone. The IOAPIC, PIC and PIT keep the state
 * the guest left (QEMU resets every device at the wake and SeaBIOS's resume
 * then sets the PIC up, masked): the OS sets all three up again on resume
 * (Linux: ioapic_resume, i8259A_resume, the clockevents), and its waking
 * code runs with interrupts off until it has.
 */
void vm_wake(struct vm *vm, const struct cpu_state *bsp);

/*
 * Ends the VM with the given exit status; the first call wins, later ones
 * are ignored. Callable from any thread, including a device handler on a
 * vCPU thread. why is printed (one line) unless NULL.
 */
void vm_stop(struct vm *vm, int status, const char *why);

/* vm_stop(vm, VX86_OK, why) for a reset the guest asked for: also sets
 * vm->reset, so that the caller of vm_run() can start the guest again. */
void vm_reset(struct vm *vm, const char *why);

/* Drives platform interrupt line gsi through the engine; a PCI INTx line
 * (GSI 16 up) also drives the ISA IRQ its PIRQ routes to, where the
 * firmware's chipset is there (hw/pc.h, pc_pci_intx). */
void vm_irq_set(struct vm *vm, uint32_t gsi, int level);

/* Sends a message-signalled interrupt: data written to addr (PCI MSI), by
 * a device that does not name itself: vm_msi_send_from(VM_SID_NONE). */
void vm_msi_send(struct vm *vm, uint64_t addr, uint32_t data);

/* A requester that does not say which PCI function it is. */
#define VM_SID_NONE (-1)

/* Sends an MSI from PCI requester sid (bus << 8 | devfn, or VM_SID_NONE),
 * through the IOMMU's interrupt remapping with --iommu (vm_msi_remap),
 * then to the engine. */
void vm_msi_send_from(struct vm *vm, int sid, uint64_t addr, uint32_t data);

/* With --iommu, the interrupt remapping of the message data to addr from
 * sid: 0 with *addr and *data the message to deliver, or -EPERM when the IOMMU
 * blocks it. Without --iommu: 0, unchanged. For the engine's IOAPIC too. */
int vm_msi_remap(struct vm *vm, int sid, uint64_t *addr, uint32_t *data);

/* Sends an MSI straight to the engine, not remapped: the IOMMU's own event
 * interrupts (VT-d §5.1.6). */
void vm_msi_deliver(struct vm *vm, uint64_t addr, uint32_t data);

/* Whether the engine injects MSIs on eventfd writes (irqfd). */
bool vm_has_msi_irqfd(const struct vm *vm);

/* Binds eventfd fd so that a write to it sends the MSI addr/data without
 * vx86 (again with the same fd: a new message; addr 0: unbind). Returns 0
 * or -errno (-ENOTSUP without irqfd). Any thread. */
int vm_msi_irqfd(struct vm *vm, int fd, uint64_t addr, uint32_t data);

/* A device (not a vCPU) wrote [gpa, gpa + len) of guest RAM: lets the engine
 * drop what it cached from there. Any thread; a range outside RAM is ignored. */
void vm_mem_written(struct vm *vm, uint64_t gpa, uint64_t len);

/* After vm_run: writes the engine's --profile report to f (accel.h's
 * profile). Returns 0 or -errno after printing one line. */
int vm_write_profile(struct vm *vm, FILE *f, const struct symbols *map);

/* Prints the vCPU's registers to stderr, for fatal exits. */
void vm_dump_vcpu(struct vcpu *vcpu);

/* Nanoseconds since vx86 started: now, or at CLOCK_MONOTONIC time
 * monotonic_ns. */
uint64_t vm_uptime_ns(const struct vm *vm);
uint64_t vm_uptime_at(const struct vm *vm, uint64_t monotonic_ns);

#endif
