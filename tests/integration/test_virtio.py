"""virtio devices: --disk's command-line errors; tests/guests/virtio.c and
virtio_pci.c, drivers of vx86's own, on every engine (virtio-mmio: the
rng's interrupt through the IOAPIC; virtio-pci: MSI-X, then INTA; console
output; a hostile buffer); and one boot of Debian's kernel on the
emu engine that uses every device:

  vda  an ext4 image made here (mkfs.ext4 + debugfs) with a known file: the
       guest checks it, writes a new file and unmounts; here debugfs reads
       the new file back and e2fsck -fn finds the file system clean
  vdb  read-only, holding the guest's test script: writes are refused, by
       the kernel (VIRTIO_BLK_F_RO) and, after blockdev --setrw, by the
       device (VIRTIO_BLK_S_IOERR); the image is unchanged
  vdc  empty: the guest partitions it, makes an ext2 file system and writes
       a file; here e2fsck and debugfs check the partition
  hvc0 (virtio-console) output reaches the console; /dev/hwrng reads come
       from virtio-rng

The boot runs once per transport (--transport mmio and pci; over PCI every
device interrupts through MSI-X); one more boot runs with console=hvc0,
where the shell runs on hvc0 and what is typed at vx86's console (a pty)
reaches it through virtio-console's receive queue, while COM1, which nobody
reads then, does not hold it up.

The boots take a few minutes here, so they run once per suite, gated on
VX86_LINUX as test_linux_boot.py is."""
import hashlib
import os
import pty
import select
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, VX86, guest, run_vx86

LINUX = os.environ.get("VX86_LINUX")

GUEST_SCRIPT = r"""
echo "serial-a $(cat /sys/block/vda/serial)"
echo "ro-b $(cat /sys/block/vdb/ro)"
mount /dev/vda /mnt && md5sum /mnt/known.bin && seq 1 30000 >/mnt/new.txt && umount /mnt
echo "disk-a $?"
dd if=/dev/zero of=/dev/vdb bs=512 count=1 oflag=direct 2>/dev/null
echo "ro-write-kernel $?"
blockdev --setrw /dev/vdb
dd if=/dev/zero of=/dev/vdb bs=512 count=1 oflag=direct 2>/dev/null
echo "ro-write-device $?"
printf 'n\np\n1\n\n\nw\n' | fdisk /dev/vdc >/dev/null 2>&1
mke2fs /dev/vdc1 >/dev/null 2>&1 && mount /dev/vdc1 /mnt && echo guest-made >/mnt/made.txt &&
    umount /mnt
echo "disk-c $?"
echo via-hvc0 >/dev/hvc0
echo "rng $(cat /sys/class/misc/hw_random/rng_current) $(head -c 64 /dev/hwrng | wc -c)"
echo "virtio-pci $(ls /sys/bus/pci/drivers/virtio-pci | grep -c ^0000:)" \
    "msi-x $(grep -c 'PCI-MSI.*virtio' /proc/interrupts)"
sync
"""


def need(tool):
    path = shutil.which(tool) or shutil.which(tool, path="/sbin:/usr/sbin")
    if not path:
        pytest.skip(f"{tool} not found (scripts/setup-deps installs e2fsprogs)")
    return path


def sh(*args, check=True):
    return subprocess.run([str(a) for a in args], capture_output=True, check=check)


def debugfs_cat(image, name):
    return sh(need("debugfs"), "-R", f"cat {name}", image).stdout


def e2fsck(image):
    r = sh(need("e2fsck"), "-fn", image, check=False)
    return r.returncode, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def test_disk_option_errors(tmp_path):
    odd = tmp_path / "odd.img"
    odd.write_bytes(bytes(1000))
    ok = tmp_path / "ok.img"
    ok.write_bytes(bytes(4096))
    hello = guest("hello.elf")
    cases = [
        ([tmp_path / "missing.img"], f"vx86: --disk {tmp_path}/missing.img: No such file or directory"),
        ([odd], f"vx86: --disk {odd}: 1000 bytes is not a whole number of 512-byte sectors"),
        ([f"{ok},rw"], f"vx86: --disk {ok},rw: unknown option rw (options: ro, snapshot, "
                       "format=raw|qcow2, backing=on|off, bootindex=N)"),
        ([",ro"], "vx86: --disk: needs a file name (--disk FILE[,OPTION]...)"),
        ([ok, f"{ok},ro"], f"vx86: --disk {ok}: in use by another process"),
        ([f"{ok},ro"] * 30, f"vx86: --disk {ok},ro: at most 29 disks"),
    ]
    for disks, message in cases:
        args = [a for d in disks for a in ("--disk", d)]
        r = run_vx86("run", "--engine", "emu", "--kernel", hello, *args)
        assert r.status == 2, r
        assert r.err.strip().splitlines()[-1] == message, r
    # Two read-only users of one image are fine.
    r = run_vx86("run", "--engine", "emu", "--kernel", hello, "--disk", f"{ok},ro", "--disk",
                 f"{ok},ro")
    assert r.status == 1 and "PASS" in r.out, r


def test_virtio_guest_rng_irq_console_and_hostile_buffer(engine):
    r = run_vx86("run", "--engine", engine, "--transport", "mmio", "--kernel",
                 guest("virtio.elf"))
    assert r.status == 1 and "PASS" in r.out, r
    lines = r.out.replace("\r", "").split("\n")
    assert "rng: 1 interrupt(s), 64 bytes" in lines, r
    assert "hvc0: hello from the virtio guest" in lines, r
    assert r.err.strip().splitlines()[-1] == \
        "vx86: virtio-rng 1: buffer outside guest RAM; the device needs a reset", r


def test_virtio_pci_guest_msix_intx_console_and_hostile_buffer(engine):
    r = run_vx86("run", "--engine", engine, "--transport", "pci", "--kernel",
                 guest("virtio_pci.elf"))
    assert r.status == 1 and "PASS" in r.out, r
    lines = r.out.replace("\r", "").split("\n")
    assert "rng: 1 MSI-X interrupt(s), 64 bytes" in lines, r
    assert "hvc0: hello over virtio-pci" in lines, r
    # the rng is the second function, 00:02.0: INTA of slot 2
    assert "rng: INTA on GSI 17" in lines, r
    assert r.err.strip().splitlines()[-1] == \
        "vx86: virtio-rng 1: buffer outside guest RAM; the device needs a reset", r


def mbr_partition(image):
    """(offset, size) in bytes of the first MBR partition."""
    mbr = image.read_bytes()[:512]
    assert mbr[510:512] == b"\x55\xaa", "no MBR on the guest-partitioned disk"
    start, count = struct.unpack_from("<II", mbr, 446 + 8)
    return start * 512, count * 512


@pytest.mark.skipif(not LINUX, reason="VX86_LINUX not set: the Linux boots run once per "
                    "suite, against the optimised build")
@pytest.mark.parametrize("transport", ["mmio", "pci"])
def test_linux_uses_virtio_disks_console_and_rng(tmp_path, transport):
    mkfs = need("mkfs.ext4")
    known = bytes((i * 131 + (i >> 9)) & 0xFF for i in range(200000))
    (tmp_path / "known.bin").write_bytes(known)
    disk_a = tmp_path / "disk-a.img"
    with open(disk_a, "wb") as f:
        f.truncate(64 << 20)
    sh(mkfs, "-q", "-F", disk_a)
    sh(need("debugfs"), "-w", "-R", f"write {tmp_path / 'known.bin'} known.bin", disk_a)
    script = GUEST_SCRIPT.encode()
    disk_b = tmp_path / "script.img"
    disk_b.write_bytes(script + b"\n" * (-len(script) % 512 + 512))
    b_before = hashlib.sha256(disk_b.read_bytes()).hexdigest()
    disk_c = tmp_path / "disk-c.img"
    with open(disk_c, "wb") as f:
        f.truncate(32 << 20)

    r = run_vx86("run", "--engine", "emu", "--mem", "512M", "--kernel",
                 Path(LINUX) / "vmlinuz", "--initrd", ROOT / ".cache" / "initramfs.cpio.gz",
                 "--disk", disk_a, "--disk", f"{disk_b},ro", "--disk", disk_c, "--transport",
                 transport, "--cmdline",
                 'console=ttyS0 quiet vx86.run="cp /dev/vdb /tmp/t; sh /tmp/t" vx86.end=reboot',
                 timeout=900)
    assert r.status == 0, r
    lines = r.out.replace("\r", "").split("\n")
    assert "vx86-initramfs: exit 0" in lines, r
    # GET_ID: the image's file name.
    assert "serial-a disk-a.img" in lines, r
    assert "ro-b 1" in lines, r
    assert f"{hashlib.md5(known).hexdigest()}  /mnt/known.bin" in lines, r
    assert "disk-a 0" in lines, r
    assert "ro-write-kernel 1" in lines, r
    assert "ro-write-device 1" in lines, r
    assert "disk-c 0" in lines, r
    assert "via-hvc0" in lines, r
    assert "rng virtio_rng.0 64" in lines, r
    if transport == "pci":
        pci = next(line for line in lines if line.startswith("virtio-pci "))
        assert pci.startswith("virtio-pci 5 msi-x "), r
        assert int(pci.split()[-1]) >= 5, r  # one vector or more per device
    else:
        assert "virtio-pci 0 msi-x 0" in lines, r

    expected = "".join(f"{i}\n" for i in range(1, 30001)).encode()
    assert debugfs_cat(disk_a, "new.txt") == expected
    status, report = e2fsck(disk_a)
    assert status == 0, report
    assert hashlib.sha256(disk_b.read_bytes()).hexdigest() == b_before

    offset, size = mbr_partition(disk_c)
    part = tmp_path / "disk-c1.img"
    with open(disk_c, "rb") as src, open(part, "wb") as dst:
        src.seek(offset)
        dst.write(src.read(size))
    status, report = e2fsck(part)
    assert status == 0, report
    assert debugfs_cat(part, "made.txt") == b"guest-made\n"


def read_until(fd, marker, timeout):
    """What fd gives until marker, or fails after timeout seconds."""
    buf = b""
    deadline = time.monotonic() + timeout
    while marker not in buf:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} in {buf!r}"
        if select.select([fd], [], [], left)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: vx86 closed the terminal
                chunk = b""
            assert chunk, f"end of output before {marker!r} in {buf!r}"
            buf += chunk
    return buf


@pytest.mark.skipif(not LINUX, reason="VX86_LINUX not set: the Linux boots run once per "
                    "suite, against the optimised build")
def test_linux_shell_on_hvc0_takes_typed_input():
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(VX86), "run", "--engine", "emu", "--mem", "512M", "--kernel",
                             str(Path(LINUX) / "vmlinuz"), "--initrd",
                             str(ROOT / ".cache" / "initramfs.cpio.gz"), "--cmdline",
                             "console=hvc0 quiet"],
                            stdin=slave, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    try:
        # /init opens the console again once virtio_console is in, so its
        # own lines reach hvc0 too; its cttyhack puts the shell there.
        read_until(master, b"vx86-initramfs: Linux", 600)
        read_until(master, b"built-in shell (ash)", 120)
        # The shell's line editor asks the terminal where its cursor is and
        # takes what comes next as the answer: give it an empty line first.
        time.sleep(2)
        os.write(master, b"\n")
        time.sleep(2)
        # More than COM1's 16-byte FIFO: the guest never reads COM1, so
        # the console loop must give up on it for hvc0 to get the next line.
        os.write(master, b"echo \"$(tty) $(cat /sys/class/tty/console/active)\" $((6 * 7))\n")
        read_until(master, b"/dev/hvc0 hvc0 42", 120)
        os.write(master, b"poweroff\n")
        proc.wait(timeout=120)
        err = proc.stderr.read().decode()
    finally:
        proc.kill()
        os.close(master)
    assert proc.returncode == 0, err
    assert err.strip().splitlines()[-1] == "vx86: guest powered off", err
