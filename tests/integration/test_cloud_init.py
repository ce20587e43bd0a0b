"""--cloud-init: the NoCloud seed vx86 builds (src/block/nocloud.c), seen
from outside and from inside a guest.

Outside: while a guest runs, the seed is vx86's memfd "cidata"; a copy of
it from /proc/PID/fd is what the guest's disk holds, and the host's own
tools read it: blkid finds LABEL=cidata TYPE=iso9660, as cloud-init's
NoCloud looks for it, and genisoimage's isoinfo extracts the Joliet files
byte for byte.

Inside: one boot of Debian's kernel on the emu engine, with a script disk
(vda), a disk holding the kernel's isofs module and the cdrom module it
needs (vdb: Debian builds ISO9660_FS as a module and the project's
initramfs carries only the virtio ones) and the seed, the last disk (vdc). The guest loads isofs,
finds the seed by its label (busybox findfs, volume_id as blkid does),
sees it read-only (the kernel, and the device after blockdev --setrw),
mounts it and checksums the three files, which must match exactly."""
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import GUESTS, ROOT, VX86

LINUX = os.environ.get("VX86_LINUX")

# Sizes that are not whole 2048-byte sectors, one line longer than a sector.
USER_DATA = (b"#cloud-config\nhostname: seed-test\nwrite_files:\n" +
             b"".join(b"  - path: /etc/f%04d\n    content: %s\n" % (i, b"x-y_z" * (i % 7))
                      for i in range(60)) +
             b"  - content: " + b"L" * 2100 + b"\n")
NETWORK_CONFIG = b"version: 2\nethernets:\n  eth0:\n    dhcp4: true\n"


def default_meta_data(user_data):
    """The meta-data vx86 writes without meta-data= (block/nocloud.h)."""
    h = 0xcbf29ce484222325
    for b in user_data:
        h = ((h ^ b) * 0x100000001b3) & (2**64 - 1)
    return f"instance-id: iid-vx86-{h:016x}\nlocal-hostname: vx86\n".encode()


def need(tool, package):
    path = shutil.which(tool) or shutil.which(tool, path="/sbin:/usr/sbin")
    if not path:
        pytest.skip(f"{tool} not found (scripts/setup-deps installs {package})")
    return path


def copy_seed(pid, timeout=30):
    """The bytes of vx86's seed, from its memfd, once it is there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == "/memfd:cidata (deleted)":
                    return fd.read_bytes()
            except OSError:
                pass
        time.sleep(0.05)
    raise AssertionError("vx86 has no memfd named cidata")


def test_host_tools_read_the_seed(tmp_path):
    blkid = need("blkid", "util-linux")
    isoinfo = need("isoinfo", "genisoimage")
    (tmp_path / "user-data").write_bytes(USER_DATA)
    (tmp_path / "net.yaml").write_bytes(NETWORK_CONFIG)
    # echo.elf waits for a 'q' on the console: the seed is looked at meanwhile.
    p = subprocess.Popen([str(VX86), "run", "--engine", "emu", "--kernel",
                          str(GUESTS / "echo.elf"), "--cloud-init",
                          f"{tmp_path / 'user-data'},network-config={tmp_path / 'net.yaml'}"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seed = copy_seed(p.pid)
    finally:
        p.stdin.write(b"q")
        p.stdin.flush()
        out, err = p.communicate(timeout=60)
    assert p.returncode == 1, err
    assert b"echo: bye" in out
    image = tmp_path / "seed.iso"
    image.write_bytes(seed)
    assert len(seed) % 2048 == 0

    probe = subprocess.run([blkid, "-p", "-o", "export", image], capture_output=True,
                           text=True, check=True).stdout.split()
    assert "LABEL=cidata" in probe, probe
    assert "TYPE=iso9660" in probe, probe

    listing = subprocess.run([isoinfo, "-J", "-f", "-i", image], capture_output=True,
                             text=True, check=True).stdout.split()
    assert sorted(listing) == ["/meta-data", "/network-config", "/user-data"], listing
    for name, want in [("user-data", USER_DATA), ("meta-data", default_meta_data(USER_DATA)),
                       ("network-config", NETWORK_CONFIG)]:
        got = subprocess.run([isoinfo, "-J", "-x", f"/{name}", "-i", image],
                             capture_output=True, check=True).stdout
        assert got == want, name


GUEST_SCRIPT = r"""
{load_modules}
echo "isofs $?"
echo "seed-at $(findfs LABEL=cidata)"
echo "seed-ro $(cat /sys/block/vdc/ro) sectors $(cat /sys/block/vdc/size)"
echo "seed-serial $(cat /sys/block/vdc/serial)"
dd if=/dev/zero of=/dev/vdc bs=512 count=1 oflag=direct 2>/dev/null
echo "ro-write-kernel $?"
blockdev --setrw /dev/vdc
dd if=/dev/zero of=/dev/vdc bs=512 count=1 oflag=direct 2>/dev/null
echo "ro-write-device $?"
blockdev --setro /dev/vdc
mount -t iso9660 -o ro /dev/vdc /mnt
echo "mount $?"
echo "files $(ls /mnt | tr '\n' ' ')"
for f in user-data meta-data network-config; do
    echo "sum $f $(sha256sum </mnt/$f | cut -d' ' -f1)"
done
umount /mnt
"""


def padded(data):
    return data + b"\n" * (-len(data) % 512 + 512)


def module_disk(path):
    """Writes isofs.ko and what it depends on (cdrom.ko), each from a 512-byte
    boundary, to path; returns the guest's commands that load them from vdb."""
    mods = Path(LINUX) / "modules"
    found = [sorted(mods.glob(f"*/kernel/{p}")) for p in ("drivers/cdrom/cdrom.ko",
                                                           "fs/isofs/isofs.ko")]
    if not all(found):
        pytest.skip(f"no isofs.ko or cdrom.ko under {mods} (scripts/fetch-kernel)")
    disk, load = b"", []
    for (ko,) in found:
        data = ko.read_bytes()
        load.append(f"dd if=/dev/vdb bs=512 skip={len(disk) // 512} count="
                    f"{(len(data) + 511) // 512} 2>/dev/null | head -c {len(data)} "
                    f">/tmp/{ko.name} && insmod /tmp/{ko.name}")
        disk += data + bytes(-len(data) % 512)
    path.write_bytes(disk)
    return " && ".join(load)


@pytest.mark.skipif(not LINUX, reason="VX86_LINUX not set: the Linux boots run once per "
                    "suite, against the optimised build")
def test_linux_guest_reads_the_seed(tmp_path):
    mod_disk = tmp_path / "isofs.img"
    load = module_disk(mod_disk)
    script = tmp_path / "script.img"
    script.write_bytes(padded(GUEST_SCRIPT.format(load_modules=load).encode()))
    (tmp_path / "user-data").write_bytes(USER_DATA)
    (tmp_path / "network-config").write_bytes(NETWORK_CONFIG)

    p = subprocess.Popen([str(VX86), "run", "--engine", "emu", "--kernel",
                          str(Path(LINUX) / "vmlinuz"), "--initrd",
                          str(ROOT / ".cache" / "initramfs.cpio.gz"), "--disk", f"{script},ro",
                          "--disk", f"{mod_disk},ro", "--cloud-init",
                          f"{tmp_path / 'user-data'},network-config="
                          f"{tmp_path / 'network-config'}", "--cmdline",
                          'console=ttyS0 quiet vx86.run="cp /dev/vda /tmp/t; sh /tmp/t" '
                          "vx86.end=reboot"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seed = copy_seed(p.pid)
        out, err = p.communicate(timeout=900)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    lines = out.decode(errors="replace").replace("\r", "").split("\n")
    why = f"{out.decode(errors='replace')}\n--- stderr\n{err.decode(errors='replace')}"
    assert p.returncode == 0, why
    assert "vx86-initramfs: exit 0" in lines, why
    assert "isofs 0" in lines, why
    assert "seed-at /dev/vdc" in lines, why
    assert f"seed-ro 1 sectors {len(seed) // 512}" in lines, why
    assert "seed-serial cidata" in lines, why
    assert "ro-write-kernel 1" in lines, why
    assert "ro-write-device 1" in lines, why
    assert "mount 0" in lines, why
    assert "files meta-data network-config user-data " in lines, why
    for name, data in [("user-data", USER_DATA), ("meta-data", default_meta_data(USER_DATA)),
                       ("network-config", NETWORK_CONFIG)]:
        assert f"sum {name} {hashlib.sha256(data).hexdigest()}" in lines, why
