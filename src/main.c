/* vx86 command line: `vx86 run`, `vx86 host`. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/sysinfo.h>
#include <unistd.h>
#include <time.h>

#include "block/nocloud.h"
#include "boot/acpi.h"
#include "boot/boot.h"
#include "boot/firmware.h"
#include "host/host.h"
#include "host/seccomp.h"
#include "machine/api/api.h"
#include "machine/config.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/symbols.h"
#include "vm/board.h"
#include "vm/console.h"
#include "vm/vm.h"

#define VX86_VERSION "0.1"

static const char usage[] =
    "usage: vx86 run --kernel FILE [options]    boot a guest kernel\n"
    "       vx86 run --disk FILE [options]      boot the disk through a PC BIOS\n"
    "       vx86 host [--json]                  what this host offers for virtualization\n"
    "\n"
    "run options:\n"
    "  --kernel FILE        Linux (bzImage, or vmlinux with a PVH note), multiboot\n"
    "                       kernel, ELF64 kernel or flat binary (real mode)\n"
    "  --initrd FILE        initial RAM disk for a Linux kernel\n"
    "  --firmware FILE      without --kernel: the BIOS image that boots the first\n"
    "                       --disk's MBR (default: " FIRMWARE_DEFAULT ",\n"
    "                       Debian's SeaBIOS; its console is COM1); a multiple of\n"
    "                       64 KiB, at most 16 MiB\n"
    "  --engine ENGINE      auto (default), kvm or emu\n"
    "  --mem SIZE           guest RAM, e.g. 256M or 1G (default 256M)\n"
    "  --cpus N             virtual CPUs (default 1)\n"
    "  --cpu MODEL[,-FEATURE]...  the CPU model: vx86 (default) or max, the same;\n"
    "                       -FEATURE takes a feature away (x2apic, umip, pku, ...),\n"
    "                       vendor=AuthenticAMD makes it an AMD CPU (default\n"
    "                       vendor=GenuineIntel)\n"
    "  --cmdline TEXT       kernel command line\n"
    "  --serial stdio|FILE  where the console goes (default stdio)\n"
    "  --on-reboot ACTION   what a guest reset does: exit (default) ends vx86,\n"
    "                       restart boots the kernel again\n"
    "  --disk FILE[,OPTION]...  a virtio-blk disk on a raw or qcow2 image\n"
    "                       (repeatable); options: ro (read-only), snapshot\n"
    "                       (writes go to a temporary overlay, dropped at exit),\n"
    "                       format=raw|qcow2 (default: from the file's magic),\n"
    "                       backing=on (open a qcow2's backing files, read-only);\n"
    "                       bootindex=N (the firmware boot tries lower N first,\n"
    "                       then the disks without one in --disk order);\n"
    "                       a virtio console and rng are always there\n"
    "  --cloud-init USER_DATA[,meta-data=FILE][,network-config=FILE]\n"
    "                       a cloud-init NoCloud seed: a read-only ISO 9660 disk\n"
    "                       labelled cidata, after the --disk ones (files up to\n"
    "                       1 MiB; meta-data by default: an instance-id from the\n"
    "                       user-data's hash and local-hostname: vx86)\n"
    "  --net tap=IFNAME[,mac=MAC] | user[,hostfwd=RULE]...[,hostname=NAME][,mac=MAC]\n"
    "                       a virtio-net NIC on a TAP interface or libslirp\n"
    "                       (hostname: the name its DHCP offers; none by default)\n"
    "  --transport pci|mmio how the virtio devices attach: PCI functions with\n"
    "                       MSI-X (default) or virtio-mmio windows\n"
    "  --vsock cid=N,uds=PATH  a virtio-vsock device, guest CID N; host clients\n"
    "                       connect to the Unix socket PATH and send CONNECT PORT,\n"
    "                       guest connections to host port P go to PATH_P\n"
    "  --testdev            QEMU's test devices for kvm-unit-tests: pc-testdev\n"
    "                       (ports 0xe0-0xeb, 0x2000-0x2017, MMIO 0xff000000)\n"
    "                       and pci-testdev\n"
    "  --iommu              an Intel VT-d IOMMU (DMA and interrupt remapping, at\n"
    "                       0xfed90000, announced in an ACPI DMAR table; QEMU's\n"
    "                       -device intel-iommu,intremap=on); emu engine only\n"
    "  --device edu         QEMU's edu PCI device (DMA and interrupt tests)\n"
    "  --jit on|off         the emu engine's binary translator (default on);\n"
    "                       VX86_JIT_EAGER=1 translates code at its first run\n"
    "  --profile FILE[,map=PATH]  emu engine: write a profile of the run to FILE\n"
    "                       at its end (instructions, counters, phases, sampled\n"
    "                       guest code named from a System.map or kallsyms PATH)\n"
    "  --no-pit             leave the 8254 PIT (ports 0x40-0x43, 0x61) out of the\n"
    "                       machine, as QEMU's -machine pit=off\n"
    "  --verbose            say more (boot timer, engine details)\n"
    "  --no-seccomp         run without the seccomp filters each thread takes\n"
    "                       (vCPU, I/O, API, main: docs/jail.md)\n"
    "\n"
    "Firecracker's options (docs/api.md); with them --kernel may come from the API:\n"
    "  --api-sock PATH      serve Firecracker's REST API on the Unix socket PATH;\n"
    "                       the guest starts on PUT /actions InstanceStart\n"
    "  --config-file FILE   Firecracker's JSON config file; the guest starts at once\n"
    "  --no-api             no API socket (with --config-file)\n"
    "  --log-path PATH, --level LEVEL, --show-level, --show-log-origin,\n"
    "  --metrics-path PATH  as PUT /logger and PUT /metrics\n"
    "  --id ID              the instance id GET / reports\n"
    "vx86 --api-sock PATH ... is vx86 run --api-sock PATH ..., as firecracker is run.\n"
    "\n"
    "On the console, Ctrl-A X quits and Ctrl-A H lists the other keys.\n"
    "Exit status: the guest's debug-exit value v as (v << 1) | 1; 0 when the guest\n"
    "powers off or resets (without --on-reboot restart) or the user quits;\n"
    "2 bad input; 4 triple fault;\n"
    "6 engine cannot continue; 8 unhandled exit; 10 host failure;\n"
    "148 a thread made a system call its seccomp filter forbids (Firecracker's code).\n";

static struct timespec start_time;

/*
 * The main thread's event loop (util/loop.h) and the terminating signals
 * on it: SIGTERM, SIGINT and SIGHUP are blocked in every thread (thread.h)
 * and read from a signalfd here. One that comes while a machine runs stops
 * it (and a reset then does not restart the guest); one before, while the
 * API waits for InstanceStart, ends that wait.
 */
static struct {
    struct loop *loop;
    struct loop_watch sig_watch;
    int sig_fd;
    struct vm *vm; /* the machine running, or NULL */
    int signo;     /* a signal that came while none ran; 0: none */
} events = {.sig_fd = -1};

static void take_signal(void *opaque, uint32_t ev)
{
    struct signalfd_siginfo si;
    struct vm *vm = events.vm;
    char why[64];

    (void)opaque;
    (void)ev;
    if (read(events.sig_fd, &si, sizeof(si)) != sizeof(si))
        return;
    if (!vm) {
        events.signo = (int)si.ssi_signo;
        loop_quit(events.loop);
        return;
    }
    snprintf(why, sizeof(why), "terminating on signal %u", si.ssi_signo);
    vm->signalled = true;
    if (atomic_load(&vm->stopping))
        log_err("%s", why);
    else
        vm_stop(vm, VX86_OK, why);
}

/* Blocks the signals and sets the loop up. Prints one line on failure. */
static int events_init(void)
{
    sigset_t quit;
    int err;

    sigemptyset(&quit);
    sigaddset(&quit, SIGTERM);
    sigaddset(&quit, SIGINT);
    sigaddset(&quit, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &quit, NULL);
    events.loop = loop_new();
    if (!events.loop) {
        log_err("cannot create the event loop: %s", strerror(errno));
        return -errno;
    }
    events.sig_fd = signalfd(-1, &quit, SFD_NONBLOCK | SFD_CLOEXEC);
    if (events.sig_fd < 0) {
        err = -errno;
        log_err("signalfd: %s", strerror(errno));
        return err;
    }
    err = loop_watch_add(events.loop, &events.sig_watch, events.sig_fd, EPOLLIN, take_signal, NULL);
    if (err)
        log_err("cannot watch signals: %s", strerror(-err));
    return err;
}

static void events_fini(void)
{
    loop_watch_del(&events.sig_watch);
    if (events.sig_fd >= 0)
        close(events.sig_fd);
    loop_free(events.loop);
}

/* Firecracker's command-line options (docs/api.md). */
struct fc_opts {
    const char *api_sock, *config_file, *id;
    const char *log_path, *level, *metrics_path; /* as PUT /logger and /metrics */
    bool show_level, show_log_origin;
    bool no_api;
    bool no_seccomp; /* --no-seccomp: no filters (host/seccomp.h) */
    bool mem_given; /* --mem: the API's initial mem_size_mib, else Firecracker's 128 */
};

static uint64_t host_ram(void)
{
    struct sysinfo si;

    if (sysinfo(&si) < 0)
        return 1ULL << 40;
    return (uint64_t)si.totalram * si.mem_unit;
}

static const struct accel_ops *pick_engine(enum engine_choice choice)
{
    char why[160];

    if (choice == ENGINE_KVM)
        return &accel_kvm_ops;
    if (choice == ENGINE_EMU)
        return &accel_emu_ops;
    if (host_kvm_hw_backed(why, sizeof(why))) {
        log_err("engine: kvm (%s)", why);
        return &accel_kvm_ops;
    }
    log_err("engine: emu (%s)", why);
    return &accel_emu_ops;
}

/* A boot through firmware (no --kernel): the default BIOS unless
 * --firmware names one, and no option that only a kernel boot uses. */
static int check_firmware(struct vm_config *cfg)
{
    const char *what = NULL;

    if (!cfg->firmware)
        cfg->firmware = FIRMWARE_DEFAULT;
    if (cfg->initrd)
        what = "--initrd";
    else if (*cfg->cmdline)
        what = "--cmdline";
    else if (cfg->iommu)
        what = "--iommu";
    if (what) {
        log_err("%s goes with --kernel; the firmware boot (--firmware %s) takes none", what,
                cfg->firmware);
        return -EINVAL;
    }
    if (cfg->transport != TRANSPORT_PCI) {
        log_err("--transport mmio: the firmware boot finds its disks on PCI only");
        return -EINVAL;
    }
    return 0;
}

static int parse_run(int argc, char **argv, struct vm_config *cfg, struct fc_opts *fc)
{
    enum {
        OPT_KERNEL = 256,
        OPT_FIRMWARE,
        OPT_API_SOCK, /* Firecracker's options */
        OPT_LOG_PATH,
        OPT_LEVEL,
        OPT_SHOW_LEVEL,
        OPT_SHOW_LOG_ORIGIN,
        OPT_METRICS_PATH,
        OPT_NO_SECCOMP,
        OPT_CONFIG_FILE,
        OPT_NO_API,
        OPT_ID,
        OPT_INITRD,
        OPT_ENGINE,
        OPT_MEM,
        OPT_CPUS,
        OPT_CPU,
        OPT_CMDLINE,
        OPT_SERIAL,
        OPT_ON_REBOOT,
        OPT_DISK,
        OPT_CLOUD_INIT,
        OPT_NET,
        OPT_TRANSPORT,
        OPT_VSOCK,
        OPT_TESTDEV,
        OPT_IOMMU,
        OPT_DEVICE,
        OPT_JIT,
        OPT_PROFILE,
        OPT_NO_PIT,
        OPT_VERBOSE
    };
    static const struct option opts[] = {
        {"kernel", required_argument, NULL, OPT_KERNEL},
        {"firmware", required_argument, NULL, OPT_FIRMWARE},
        {"api-sock", required_argument, NULL, OPT_API_SOCK},
        {"log-path", required_argument, NULL, OPT_LOG_PATH},
        {"level", required_argument, NULL, OPT_LEVEL},
        {"show-level", no_argument, NULL, OPT_SHOW_LEVEL},
        {"show-log-origin", no_argument, NULL, OPT_SHOW_LOG_ORIGIN},
        {"metrics-path", required_argument, NULL, OPT_METRICS_PATH},
        {"no-seccomp", no_argument, NULL, OPT_NO_SECCOMP},
        {"config-file", required_argument, NULL, OPT_CONFIG_FILE},
        {"no-api", no_argument, NULL, OPT_NO_API},
        {"id", required_argument, NULL, OPT_ID},
        {"initrd", required_argument, NULL, OPT_INITRD},
        {"engine", required_argument, NULL, OPT_ENGINE},
        {"mem", required_argument, NULL, OPT_MEM},
        {"cpus", required_argument, NULL, OPT_CPUS},
        {"cpu", required_argument, NULL, OPT_CPU},
        {"cmdline", required_argument, NULL, OPT_CMDLINE},
        {"serial", required_argument, NULL, OPT_SERIAL},
        {"on-reboot", required_argument, NULL, OPT_ON_REBOOT},
        {"disk", required_argument, NULL, OPT_DISK},
        {"cloud-init", required_argument, NULL, OPT_CLOUD_INIT},
        {"net", required_argument, NULL, OPT_NET},
        {"transport", required_argument, NULL, OPT_TRANSPORT},
        {"vsock", required_argument, NULL, OPT_VSOCK},
        {"testdev", no_argument, NULL, OPT_TESTDEV},
        {"iommu", no_argument, NULL, OPT_IOMMU},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"jit", required_argument, NULL, OPT_JIT},
        {"profile", required_argument, NULL, OPT_PROFILE},
        {"no-pit", no_argument, NULL, OPT_NO_PIT},
        {"verbose", no_argument, NULL, OPT_VERBOSE},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int c;

    *cfg = (struct vm_config){.cmdline = "",
                              .serial = "stdio",
                              .mem_size = 256ULL << 20,
                              .cpus = 1,
                              .engine = ENGINE_AUTO,
                              .transport = TRANSPORT_PCI};
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_KERNEL:
            cfg->kernel = optarg;
            break;
        case OPT_FIRMWARE:
            cfg->firmware = optarg;
            break;
        case OPT_API_SOCK:
            fc->api_sock = optarg;
            break;
        case OPT_CONFIG_FILE:
            fc->config_file = optarg;
            break;
        case OPT_NO_API:
            fc->no_api = true;
            break;
        case OPT_LOG_PATH:
            fc->log_path = optarg;
            break;
        case OPT_LEVEL:
            fc->level = optarg;
            break;
        case OPT_SHOW_LEVEL:
            fc->show_level = true;
            break;
        case OPT_SHOW_LOG_ORIGIN:
            fc->show_log_origin = true;
            break;
        case OPT_METRICS_PATH:
            fc->metrics_path = optarg;
            break;
        case OPT_NO_SECCOMP:
            fc->no_seccomp = true;
            break;
        case OPT_ID:
            fc->id = optarg;
            break;
        case OPT_INITRD:
            cfg->initrd = optarg;
            break;
        case OPT_ENGINE:
            if (config_parse_engine(optarg, &cfg->engine))
                return -EINVAL;
            break;
        case OPT_MEM:
            if (config_parse_mem(optarg, host_ram(), &cfg->mem_size))
                return -EINVAL;
            fc->mem_given = true;
            break;
        case OPT_CPUS:
            if (config_parse_cpus(optarg, &cfg->cpus))
                return -EINVAL;
            break;
        case OPT_CPU:
            if (cpu_model_parse(optarg, &cfg->cpu_off, &cfg->cpu_vendor))
                return -EINVAL;
            break;
        case OPT_CMDLINE:
            cfg->cmdline = optarg;
            break;
        case OPT_SERIAL:
            cfg->serial = optarg;
            break;
        case OPT_ON_REBOOT:
            if (config_parse_on_reboot(optarg, &cfg->on_reboot))
                return -EINVAL;
            break;
        case OPT_DISK:
            if (config_parse_disk(optarg, cfg))
                return -EINVAL;
            break;
        case OPT_CLOUD_INIT:
            if (config_parse_cloud_init(optarg, cfg))
                return -EINVAL;
            break;
        case OPT_NET:
            if (config_parse_net(optarg, cfg))
                return -EINVAL;
            break;
        case OPT_TRANSPORT:
            if (config_parse_transport(optarg, &cfg->transport))
                return -EINVAL;
            break;
        case OPT_VSOCK:
            if (config_parse_vsock(optarg, cfg))
                return -EINVAL;
            break;
        case OPT_TESTDEV:
            cfg->testdev = true;
            break;
        case OPT_IOMMU:
            cfg->iommu = true;
            break;
        case OPT_DEVICE:
            if (config_parse_device(optarg, cfg))
                return -EINVAL;
            break;
        case OPT_JIT:
            if (config_parse_jit(optarg, &cfg->jit_off))
                return -EINVAL;
            break;
        case OPT_PROFILE:
            if (config_parse_profile(optarg, cfg))
                return -EINVAL;
            break;
        case OPT_NO_PIT:
            cfg->no_pit = true;
            break;
        case OPT_VERBOSE:
            log_verbose = true;
            break;
        case 'h':
            fputs(usage, stdout);
            exit(0);
        case ':':
            log_err("%s: needs a value", argv[optind - 1]);
            return -EINVAL;
        default:
            log_err("%s: unknown option (vx86 run --help lists them)", argv[optind - 1]);
            return -EINVAL;
        }
    }
    if (optind < argc) {
        log_err("%s: unexpected argument (vx86 run --help lists the options)", argv[optind]);
        return -EINVAL;
    }
    if (cfg->firmware && cfg->kernel) {
        log_err("--firmware and --kernel: give one; --firmware boots the --disk through a BIOS");
        return -EINVAL;
    }
    if (fc->api_sock || fc->config_file || fc->no_api) {
        if (cfg->firmware) {
            log_err("--firmware: not with Firecracker's API or config file, which boot kernels");
            return -EINVAL;
        }
        return 0;
    }
    if (fc->log_path || fc->metrics_path || fc->level) {
        log_err("--log-path, --level and --metrics-path go with --api-sock or --config-file");
        return -EINVAL;
    }
    if (!cfg->kernel && !cfg->firmware && !cfg->nr_disks) {
        log_err("run: --kernel FILE is required (or --disk FILE, to boot it through firmware)");
        return -EINVAL;
    }
    return cfg->kernel ? 0 : check_firmware(cfg);
}

/* --profile: where the report goes and the symbols it names code with. */
struct profile_out {
    FILE *f; /* NULL: no profile */
    struct symbols map;
};

/*
 * One boot of the guest: a fresh VM, the kernel and tables loaded, run to
 * the end. *reset says whether it ended by a guest reset; *ran is set once
 * the guest runs, which the first boot tells api (if not NULL).
 */
static int boot_once(const struct vm_config *cfg, const struct accel_ops *accel,
                     const struct boot_image *img, bool first, bool *reset,
                     struct profile_out *prof, struct api_server *api, bool *ran)
{
    struct vm vm = {.start = start_time, .loop = events.loop, .stop_fd = -1};
    struct acpi_mmio_dev devs[BOARD_VIRTIO_MMIO_SLOTS];
    int ndevs = 0;
    struct cpu_state boot;
    /* What went wrong before the guest ran: its input, or on a restart the
     * host (the same input went through before). */
    int status = first ? VX86_EBADINPUT : VX86_EHOST;

    *reset = false;
    if (vm_create(&vm, cfg, accel))
        goto out;
    for (int i = 0; i < vm.nr_virtio && cfg->transport == TRANSPORT_MMIO; i++)
        devs[ndevs++] =
            (struct acpi_mmio_dev){vm.virtio[i]->base, BOARD_VIRTIO_MMIO_SIZE, vm.virtio[i]->irq};
    if (cfg->rom) {
        if (firmware_load(&vm.mem, cfg->rom, cfg->rom_size, &boot))
            goto out;
    } else if (boot_load_image(&vm.mem, img, &boot) ||
               boot_write_tables(&vm.mem, cfg->cpus, devs, ndevs)) {
        goto out;
    }
    if (cfg->iommu && acpi_add_dmar(&vm.mem)) {
        log_err("--iommu: cannot write the ACPI DMAR table");
        goto out;
    }
    if (vm_create_vcpus(&vm, &boot) || (first && console_init(cfg->serial)))
        goto out;
    if (api) /* before the 204: a SendCtrlAltDel may follow at once */
        api_server_set_machine(api, &vm);
    if (first && api)
        api_server_started(api, 0, NULL);
    *ran = true;
    events.vm = &vm;
    status = vm_run(&vm, events.loop);
    /* A guest that resets at once may stop the VM before the loop ever
     * waits: a signal pending by then is taken here, or restarts would
     * never see it. */
    take_signal(NULL, 0);
    events.vm = NULL;
    if (api)
        api_server_set_machine(api, NULL);
    *reset = vm.reset && !vm.signalled;
    if (prof->f) {
        if (!first)
            fputs("\n", prof->f);
        if (vm_write_profile(&vm, prof->f, cfg->profile_map ? &prof->map : NULL) &&
            status == VX86_OK)
            status = VX86_EHOST;
    }
out:
    vm_destroy(&vm);
    return status;
}

/*
 * Runs the guest of cfg to its end (and again on resets with --on-reboot
 * restart): what `vx86 run` does, and InstanceStart. With api, tells it once
 * the guest runs; *ran says whether it did.
 */
static int run_guest(const struct vm_config *cfgp, struct api_server *api, bool *ran)
{
    struct vm_config cfg = *cfgp;
    struct boot_image img = {0};
    const struct accel_ops *accel;
    uint8_t *data = NULL, *initrd = NULL;
    struct profile_out prof = {0};
    int status = VX86_EBADINPUT;
    bool reset, first = true;

    *ran = false;
    if (cfg.firmware) {
        if (firmware_read(cfg.firmware, &data, &cfg.rom_size))
            return VX86_EBADINPUT;
        cfg.rom = data;
    } else if (boot_check_not_disk(cfg.kernel) ||
               boot_read_file(cfg.kernel, cfg.mem_size, &data, &img.size)) {
        return VX86_EBADINPUT;
    }
    if (cfg.initrd && boot_read_file(cfg.initrd, cfg.mem_size, &initrd, &img.initrd_size))
        goto out;
    img.name = cfg.kernel;
    img.initrd_name = cfg.initrd;
    img.initrd = initrd;
    img.data = data;
    img.cmdline = cfg.cmdline;
    accel = pick_engine(cfg.engine);
    /* KVM's in-kernel IOAPIC sends its interrupts past vx86, where the
     * IOMMU's interrupt remapping cannot see them. */
    if (cfg.iommu && accel == &accel_kvm_ops) {
        log_err("--iommu: the kvm engine has no IOMMU (its in-kernel IOAPIC bypasses "
                "interrupt remapping); use --engine emu");
        goto out;
    }
    if (cfg.profile && !accel->profile) {
        log_err("--profile: the %s engine has no profiler; it needs --engine emu", accel->name);
        goto out;
    }
    if (cfg.profile_map && symbols_load(&prof.map, cfg.profile_map))
        goto out;
    if (cfg.profile && !(prof.f = fopen(cfg.profile, "w"))) {
        log_err("--profile %s: cannot create it: %s", cfg.profile, strerror(errno));
        goto out;
    }
    /* The images stay in memory so that a restart boots the same ones. */
    for (;;) {
        status = boot_once(&cfg, accel, &img, first, &reset, &prof, api, ran);
        if (!reset || cfg.on_reboot != ON_REBOOT_RESTART)
            break;
        log_info("restarting the guest (--on-reboot restart)");
        first = false;
    }
out:
    if (prof.f && fclose(prof.f)) {
        log_err("--profile %s: %s", cfg.profile, strerror(errno));
        if (status == VX86_OK)
            status = VX86_EHOST;
    }
    symbols_free(&prof.map);
    free(data);
    free(initrd);
    console_restore();
    return status;
}

/* --config-file FILE into v. */
static int load_config_file(struct api_vmm *v, const char *path)
{
    uint8_t *text;
    size_t len;
    char err[320];

    if (boot_read_file(path, 1 << 20, &text, &len))
        return -EINVAL;
    if (api_load_config(v, (const char *)text, len, err, sizeof(err))) {
        log_err("--config-file %s: %s", path, err);
        free(text);
        return -EINVAL;
    }
    free(text);
    return 0;
}

/* Firecracker's logging and metrics options: what PUT /logger and PUT
 * /metrics would configure (opened with the config file's). */
static int api_cli_outputs(struct api_vmm *v, const struct fc_opts *fc)
{
    if (fc->log_path) {
        v->logger = (struct api_logger){
            .level = LOG_INFO, .show_level = fc->show_level, .show_origin = fc->show_log_origin};
        if (fc->level) {
            v->logger.level = log_level_parse(fc->level);
            if (v->logger.level < 0) {
                log_err("--level %s: expected Error, Warning, Info, Debug, Trace or Off",
                        fc->level);
                return -EINVAL;
            }
        }
        if (!(v->logger.path = strdup(fc->log_path)))
            goto nomem;
    } else if (fc->level || fc->show_level || fc->show_log_origin) {
        log_err("--level, --show-level and --show-log-origin go with --log-path");
        return -EINVAL;
    }
    if (fc->metrics_path && !(v->metrics_path = strdup(fc->metrics_path)))
        goto nomem;
    return 0;
nomem:
    log_err("out of memory");
    return -ENOMEM;
}

/*
 * Firecracker's way: the guest's configuration comes from --config-file
 * and/or the API socket; the command line gives the rest (engine, console).
 * The guest runs on this thread, as with `vx86 run`, once it is complete.
 */
static int cmd_api(const struct vm_config *base, const struct fc_opts *fc)
{
    struct api_vmm v;
    struct api_server *api = NULL;
    struct vm_config cfg;
    char err[320];
    int status = VX86_EBADINPUT, ret = 0;
    bool ran = false;

    if (fc->no_api && (fc->api_sock || !fc->config_file)) {
        log_err("--no-api: needs --config-file and excludes --api-sock");
        return VX86_EBADINPUT;
    }
    if (base->nr_disks || base->cloud_init.user_data || base->net.mode != NET_NONE) {
        log_err("%s: with --api-sock or --config-file, drives and network interfaces come "
                "from the API or the config file",
                base->nr_disks               ? "--disk"
                : base->cloud_init.user_data ? "--cloud-init"
                                             : "--net");
        return VX86_EBADINPUT;
    }
    if (api_vmm_init(&v, base, fc->id, fc->mem_given ? base->mem_size >> 20 : 128, host_ram() >> 20,
                     VX86_VERSION)) {
        log_err("out of memory");
        return VX86_EHOST;
    }
    if (api_cli_outputs(&v, fc))
        goto out;
    if (fc->config_file) {
        if (load_config_file(&v, fc->config_file))
            goto out;
        if (api_vmm_build(&v, &cfg, err, sizeof(err))) {
            log_err("--config-file %s: %s", fc->config_file, err);
            goto out;
        }
        v.state = API_STARTING;
    }
    /* With --no-api, a server without a socket: the config file's logger
     * and metrics, a metrics line every minute and at the end. */
    if (api_server_start(&api, fc->api_sock, &v, events.loop))
        goto out;
    if (fc->api_sock) {
        /* Requests are served on this thread from now on: confined, as
         * it would be once a guest runs. */
        seccomp_apply(SECCOMP_MAIN);
    }
    /* A start that fails leaves the API up for another InstanceStart; with
     * --config-file it ends vx86, as the command line's would. */
    for (bool once = fc->config_file != NULL; !ran; once = false) {
        if (!once && (!api || (ret = api_server_wait_start(api, &cfg)))) {
            /* As a signal while the guest runs: the user quit. */
            if (ret == -EINTR && events.signo) {
                log_err("terminating on signal %d before the guest ran", events.signo);
                status = VX86_OK;
            }
            break;
        }
        status = run_guest(&cfg, api, &ran);
        if (!ran && api)
            api_server_started(api, -EINVAL, log_last_error());
        if (!ran && once)
            break;
    }
out:
    api_server_stop(api);
    api_vmm_free(&v);
    return status;
}

static int cmd_run(int argc, char **argv)
{
    struct vm_config cfg;
    struct fc_opts fc = {0};
    bool ran;
    int err;

    if (parse_run(argc, argv, &cfg, &fc))
        return VX86_EBADINPUT;
    if (!fc.no_seccomp && (err = seccomp_enable())) {
        log_err("seccomp: this kernel has no seccomp filters (%s); --no-seccomp runs without them",
                strerror(-err));
        return VX86_EHOST;
    }
    if (events_init()) {
        events_fini();
        return VX86_EHOST;
    }
    if (fc.api_sock || fc.config_file || fc.no_api)
        err = cmd_api(&cfg, &fc);
    else if (cfg.cloud_init.user_data && (err = nocloud_attach(&cfg)))
        err = err == -EINVAL ? VX86_EBADINPUT : VX86_EHOST;
    else
        err = run_guest(&cfg, NULL, &ran);
    events_fini();
    return err;
}

int main(int argc, char **argv)
{
    clock_gettime(CLOCK_MONOTONIC, &start_time);
    if (argc < 2) {
        fputs(usage, stderr);
        return VX86_EBADINPUT;
    }
    if (!strcmp(argv[1], "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(argv[1], "host"))
        return host_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage, stdout);
        return 0;
    }
    /* Kata Containers reads the version of Firecracker from the second
     * word of this line. */
    if (!strcmp(argv[1], "--version")) {
        puts("Firecracker v" API_FIRECRACKER_VERSION " (vx86 " VX86_VERSION
             ", Firecracker-compatible API)");
        return 0;
    }
    /* Orchestrators start firecracker --api-sock PATH ...: the same here. */
    if (!strncmp(argv[1], "--", 2))
        return cmd_run(argc, argv);
    log_err("%s: unknown command (run or host; vx86 --help for more)", argv[1]);
    return VX86_EBADINPUT;
}
