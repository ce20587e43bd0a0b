"""Bad input and guest failures: a clear one-line error (or a register dump
for a dying guest), the documented exit status, nothing half-started."""
import os
import socket
import struct

import pytest

import json

from conftest import GUESTS, kvm_is_pvm, run_vx86
from linux_images import bzimage, initrd, vmlinux_pvh

STATUS_BADINPUT = 2
STATUS_TRIPLEFAULT = 4
STATUS_INTERNAL = 6


def elf64(paddr, entry, payload=b"\xf4"):
    """A minimal x86-64 ET_EXEC with one PT_LOAD of payload at paddr."""
    ehdr_size, phdr_size = 64, 56
    offset = ehdr_size + phdr_size
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, entry, ehdr_size, 0, 0,
                               ehdr_size, phdr_size, 1, 0, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, offset, paddr, paddr, len(payload), len(payload),
                       0x1000)
    return ehdr + phdr + payload


def one_error_line(r):
    lines = [line for line in r.err.splitlines() if line.strip()]
    assert len(lines) == 1, r
    return lines[0]


def run_bad(*args):
    r = run_vx86("run", "--engine", "emu", *args)
    assert r.status == STATUS_BADINPUT, r
    assert r.out == "", r
    return one_error_line(r)


def test_missing_kernel_file(tmp_path):
    missing = tmp_path / "nope.elf"
    assert run_bad("--kernel", missing) == f"vx86: {missing}: No such file or directory"


def test_kernel_is_a_directory(tmp_path):
    assert run_bad("--kernel", tmp_path) == f"vx86: {tmp_path}: not a regular file"


def test_empty_kernel(tmp_path):
    k = tmp_path / "empty"
    k.write_bytes(b"")
    assert run_bad("--kernel", k) == f"vx86: {k}: empty file"


def test_kernel_bigger_than_ram(tmp_path):
    k = tmp_path / "big.bin"
    k.write_bytes(bytes(3 << 20))
    assert run_bad("--mem", "2M", "--kernel", k) == \
        f"vx86: {k}: 3145728 bytes do not fit in 2 MiB of guest RAM"


def disk_image(kind):
    """The first bytes of a disk image of each kind boot_check_not_disk knows."""
    b = bytearray(0x9000)
    if kind == "qcow2":
        b[0:4] = b"QFI\xfb"
    elif kind == "gpt":
        b[510:512] = b"\x55\xaa"
        b[446 + 4] = 0xee  # the protective MBR's entry
        b[512:520] = b"EFI PART"
    elif kind == "iso":
        b[0x8001:0x8006] = b"CD001"
    else:
        b[446] = 0x80  # bootable
        b[446 + 4] = 0x83  # Linux
        b[510:512] = b"\x55\xaa"
    return bytes(b)


@pytest.mark.parametrize("kind,what", [
    ("qcow2", "a qcow2 disk image"),
    ("gpt", "a disk image with a GPT partition table"),
    ("iso", "an ISO 9660 image"),
    ("mbr", "a disk image with an MBR partition table"),
])
def test_disk_image_as_kernel(tmp_path, kind, what):
    k = tmp_path / "debian.img"
    k.write_bytes(disk_image(kind) + bytes(3 << 20))
    assert run_bad("--mem", "2M", "--kernel", k) == (
        f"vx86: {k}: {what}, not a kernel: give it with --disk, and leave --kernel out to "
        "boot it through firmware")


@pytest.mark.parametrize("cut,message", [
    (40, "truncated ELF header"),
    (100, "truncated ELF: program header table extends past the end of the file"),
])
def test_truncated_elf(tmp_path, cut, message):
    k = tmp_path / "cut.elf"
    k.write_bytes((GUESTS / "hello.elf").read_bytes()[:cut])
    assert run_bad("--kernel", k) == f"vx86: {k}: {message}"


def test_truncated_elf_segment(tmp_path):
    k = tmp_path / "cut.elf"
    k.write_bytes(elf64(0x100000, 0x100000, b"\xf4" * 64)[:-10])
    assert run_bad("--kernel", k) == \
        f"vx86: {k}: truncated ELF: a segment extends past the end of the file"


def test_elf_segment_outside_ram(tmp_path):
    k = tmp_path / "high.elf"
    k.write_bytes(elf64(0x40000000, 0x40000000))
    assert run_bad("--mem", "128M", "--kernel", k) == \
        f"vx86: {k}: ELF segment at 0x40000000 (1 bytes) lies outside guest RAM"


def test_elf_segment_over_boot_area(tmp_path):
    k = tmp_path / "low.elf"
    k.write_bytes(elf64(0x1000, 0x1000))
    assert run_bad("--kernel", k) == \
        f"vx86: {k}: ELF segment at 0x1000 overlaps vx86's boot area below 0x10000"


def test_elf_for_another_machine(tmp_path):
    data = bytearray(elf64(0x100000, 0x100000))
    data[18:20] = struct.pack("<H", 183)  # EM_AARCH64
    k = tmp_path / "arm.elf"
    k.write_bytes(bytes(data))
    assert run_bad("--kernel", k) == f"vx86: {k}: ELF64 file is not for x86-64"


def test_multiboot_wants_video(tmp_path):
    flags = 0x00010004
    header = struct.pack("<III", 0x1BADB002, flags, (-(0x1BADB002 + flags)) & 0xffffffff)
    k = tmp_path / "video.bin"
    k.write_bytes(header + bytes(64))
    assert run_bad("--kernel", k) == \
        f"vx86: {k}: multiboot header requires a video mode; vx86 has no display"


@pytest.mark.parametrize("value,message", [
    ("abc", "--mem abc: not a size (examples: 256M, 1G)"),
    ("12Q", "--mem 12Q: not a size (examples: 256M, 1G)"),
    ("-5", "--mem -5: not a size (examples: 256M, 1G)"),
    ("0", "--mem 0: at least 2 MiB are needed"),
    ("1K", "--mem 1K: at least 2 MiB are needed"),
    ("99999999999999999999999", None),
    ("64T", None),
])
def test_absurd_mem(value, message):
    line = run_bad("--mem", value, "--kernel", GUESTS / "hello.elf")
    if message:
        assert line == f"vx86: {message}"
    else:
        assert line.startswith(f"vx86: --mem {value}: more than this host's "), line


def test_unknown_option():
    assert run_bad("--bogus", "--kernel", GUESTS / "hello.elf") == \
        "vx86: --bogus: unknown option (vx86 run --help lists them)"


def test_option_without_value():
    r = run_vx86("run", "--kernel")
    assert r.status == STATUS_BADINPUT
    assert one_error_line(r) == "vx86: --kernel: needs a value"


def test_no_kernel():
    assert run_bad() == ("vx86: run: --kernel FILE is required (or --disk FILE, to boot it "
                         "through firmware)")


def test_bad_engine_and_cpus():
    assert run_bad("--engine", "xen", "--kernel", GUESTS / "hello.elf") == \
        "vx86: --engine xen: unknown engine (auto, kvm or emu)"
    assert run_bad("--cpus", "0", "--kernel", GUESTS / "hello.elf") == \
        "vx86: --cpus 0: a number from 1 to 64"


def test_bad_device_and_iommu_on_kvm():
    assert run_bad("--device", "nic", "--kernel", GUESTS / "hello.elf") == \
        "vx86: --device nic: unknown device (edu is the one there is)"
    # Refused before the engine starts, so the answer is the same on hosts
    # without KVM.
    r = run_vx86("run", "--engine", "kvm", "--iommu", "--kernel", GUESTS / "hello.elf")
    assert r.status == STATUS_BADINPUT, r
    assert one_error_line(r) == ("vx86: --iommu: the kvm engine has no IOMMU (its in-kernel "
                                 "IOAPIC bypasses interrupt remapping); use --engine emu"), r


def test_command_line_too_long():
    assert run_bad("--cmdline", "x" * 5000, "--kernel", GUESTS / "hello.elf") == \
        "vx86: --cmdline: 5000 bytes exceed the limit of 4095"


def test_unknown_command():
    r = run_vx86("frobnicate")
    assert r.status == STATUS_BADINPUT
    assert one_error_line(r) == "vx86: frobnicate: unknown command (run or host; vx86 --help for more)"


def test_triple_fault(engine):
    r = run_vx86("run", "--engine", engine, "--kernel", GUESTS / "fail_triplefault.elf")
    assert r.status == STATUS_TRIPLEFAULT, r
    assert r.err.splitlines()[0] == "vx86: vCPU 0: triple fault, guest shut down", r
    assert " rip " in r.err and " cr0 " in r.err, r


def test_engine_cannot_continue(engine):
    """INT3 with no IDT triple-faults, except on PVM, whose KVM cannot emulate
    INT3 at CPL 0: then vx86 reports the KVM internal error and the registers."""
    r = run_vx86("run", "--engine", engine, "--kernel", GUESTS / "fail_int3.elf")
    if engine == "kvm" and kvm_is_pvm():
        assert r.status == STATUS_INTERNAL, r
        assert r.err.splitlines()[0].startswith(
            "vx86: vCPU 0: engine cannot continue: KVM could not emulate an instruction"), r
    else:
        assert r.status == STATUS_TRIPLEFAULT, r
        assert r.err.splitlines()[0] == "vx86: vCPU 0: triple fault, guest shut down", r
    assert " rip " in r.err and " cr3 " in r.err, r


def test_engine_auto_says_which_and_why():
    r = run_vx86("run", "--kernel", GUESTS / "hello.elf")
    host = json.loads(run_vx86("host", "--json").out)
    first = r.err.splitlines()[0]
    assert r.status == 1, r
    assert first.startswith(f"vx86: engine: {host['engine_auto']['engine']} ("), first


def test_boot_timer_reported_with_verbose(engine):
    r = run_vx86("run", "--engine", engine, "--verbose", "--kernel", GUESTS / "io.elf")
    assert r.status == 1, r
    assert "vx86: boot-timer: guest booted " in r.err, r
    r = run_vx86("run", "--engine", engine, "--kernel", GUESTS / "io.elf")
    assert "boot-timer" not in r.err, r


# --- Linux: bzImage, vmlinux (PVH), --initrd ---

def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_linux_protocol_too_old(tmp_path):
    k = write(tmp_path, "old.bzImage", bzimage(version=0x020B))
    assert run_bad("--kernel", k) == f"vx86: {k}: boot protocol 2.11 is too old (2.12 needed)"


def test_linux_truncated_bzimage(tmp_path):
    k = write(tmp_path, "cut.bzImage", bzimage(setup_sects=200))
    assert run_bad("--kernel", k) == \
        f"vx86: {k}: truncated bzImage: the setup code extends past the end of the file"
    k = write(tmp_path, "cut2.bzImage", bzimage()[:-32])
    assert run_bad("--kernel", k).startswith(f"vx86: {k}: truncated bzImage: ")


def test_linux_memory_too_small(tmp_path):
    k = write(tmp_path, "big.bzImage", bzimage(init_size=60 << 20))
    assert run_bad("--mem", "64M", "--kernel", k) == \
        f"vx86: {k}: the kernel needs 76 MiB of RAM (init_size 60 MiB at 16 MiB); --mem gives 64 MiB"


def test_linux_missing_initrd(tmp_path):
    k = write(tmp_path, "k.bzImage", bzimage())
    missing = tmp_path / "nope.img"
    assert run_bad("--kernel", k, "--initrd", missing) == \
        f"vx86: {missing}: No such file or directory"


def test_linux_initrd_does_not_fit(tmp_path):
    k = write(tmp_path, "k.bzImage", bzimage())
    rd = write(tmp_path, "initrd.img", bytes(20 << 20))
    assert run_bad("--mem", "32M", "--kernel", k, "--initrd", rd) == \
        f"vx86: {rd}: 20 MiB does not fit between the kernel's end at 18 MiB and the end of RAM at 32 MiB"
    k = write(tmp_path, "k.vmlinux", vmlinux_pvh(memsz=30 << 20))
    assert run_bad("--mem", "32M", "--kernel", k, "--initrd", rd) == \
        f"vx86: {rd}: 20 MiB does not fit between the kernel's end at 31 MiB and the end of RAM at 32 MiB"


def test_linux_initrd_for_another_kernel(tmp_path):
    rd = write(tmp_path, "initrd.img", initrd())
    hello = GUESTS / "hello.elf"
    assert run_bad("--kernel", hello, "--initrd", rd) == \
        f"vx86: {hello}: not a Linux kernel, so --initrd cannot go with it " \
        "(a bzImage or a vmlinux with a PVH note can)"
    junk = write(tmp_path, "junk.bin", bytes(range(256)) * 4)
    assert run_bad("--kernel", junk, "--initrd", rd).startswith(
        f"vx86: {junk}: not a Linux kernel, so --initrd cannot go with it")


def test_linux_32bit_bzimage(tmp_path):
    k = write(tmp_path, "i386.bzImage", bzimage(xloadflags=0))
    assert run_bad("--kernel", k) == \
        f"vx86: {k}: not a 64-bit kernel (the bzImage has no 64-bit entry point)"


def test_linux_cmdline_too_long_for_kernel(tmp_path):
    k = write(tmp_path, "k.bzImage", bzimage())
    assert run_bad("--kernel", k, "--cmdline", "x" * 2048) == \
        "vx86: --cmdline: 2048 bytes exceed the kernel's limit of 2047"


def test_net_bad_options():
    assert run_bad("--kernel", GUESTS / "hello.elf", "--net", "tap") == \
        "vx86: --net tap: expected tap=IFNAME or user"
    assert run_bad("--kernel", GUESTS / "hello.elf", "--net", "user,hostfwd=tcp::80") == \
        ("vx86: --net hostfwd=tcp::80: expected [tcp|udp]:[HOSTADDR]:HOSTPORT-[10.0.2.15]"
         ":GUESTPORT (example: tcp::8080-:80)")
    assert run_bad("--kernel", GUESTS / "hello.elf", "--net", "user", "--net", "user") == \
        "vx86: --net user: one --net at most"


def test_net_tap_missing_or_not_a_tap():
    assert run_bad("--kernel", GUESTS / "hello.elf", "--net", "tap=vx86nosuch0") == \
        "vx86: --net tap=vx86nosuch0: no such interface (ip tuntap add vx86nosuch0 mode tap " \
        "creates it)"
    if os.geteuid() != 0:
        pytest.skip("not root: /dev/net/tun may refuse before the interface is looked at")
    assert run_bad("--kernel", GUESTS / "hello.elf", "--net", "tap=lo") == \
        "vx86: --net tap=lo: not a TAP interface"


def test_net_hostfwd_port_in_use():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert run_bad("--kernel", GUESTS / "hello.elf", "--net",
                       f"user,hostfwd=tcp:127.0.0.1:{port}-:80") == \
            (f"vx86: --net user,hostfwd=tcp:127.0.0.1:{port}-:80: cannot listen on host port "
             f"{port}: Address already in use")


def test_cloud_init_bad_files_and_options(tmp_path):
    hello = GUESTS / "hello.elf"
    ud = write(tmp_path, "user-data", b"#cloud-config\n")
    big = write(tmp_path, "big.yaml", bytes(1024 * 1024 + 1))
    missing = tmp_path / "missing.yaml"
    form = "--cloud-init USER_DATA[,meta-data=FILE][,network-config=FILE]"
    cases = [
        ([missing], f"vx86: --cloud-init {missing}: No such file or directory"),
        ([f"{ud},meta-data={missing}"],
         f"vx86: --cloud-init meta-data={missing}: No such file or directory"),
        ([f"{ud},network-config={tmp_path}"],
         f"vx86: --cloud-init network-config={tmp_path}: Is a directory"),
        ([big], f"vx86: --cloud-init {big}: larger than 1 MiB, a seed file's limit"),
        ([""], f"vx86: --cloud-init: needs a user-data file ({form})"),
        ([f"{ud},meta-data="], f"vx86: --cloud-init {ud}: meta-data= needs a file name"),
        ([f"{ud},vendor-data={ud}"],
         f"vx86: --cloud-init {ud}: unknown option vendor-data={ud} ({form})"),
        ([ud, ud], f"vx86: --cloud-init {ud}: one --cloud-init at most"),
    ]
    for values, message in cases:
        args = [a for v in values for a in ("--cloud-init", v)]
        assert run_bad("--kernel", hello, *args) == message
    # The seed takes a disk slot: 29 --disk (PCI bus 0's slots beside the
    # console and the rng) leave none.
    disk = write(tmp_path, "d.img", bytes(512))
    assert run_bad("--kernel", hello, *["--disk", f"{disk},ro"] * 29, "--cloud-init", ud) == \
        f"vx86: --cloud-init {ud}: its seed is a disk, and 29 --disk already take every slot"
    # Firecracker's way has its drives from the API or the config file only.
    assert run_bad("--no-api", "--config-file", write(tmp_path, "vm.json", b"{}"),
                   "--cloud-init", ud) == \
        ("vx86: --cloud-init: with --api-sock or --config-file, drives and network interfaces "
         "come from the API or the config file")
