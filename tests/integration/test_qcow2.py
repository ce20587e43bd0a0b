"""qcow2 disk images (src/block/): the lines vx86 prints for images it
refuses, and boots of Debian's kernel on the emu engine with qcow2 disks:

  vda  a fresh qcow2 (qemu-img create): the guest writes with dd (clusters
       allocated, rewritten in part), discards a range with blkdiscard,
       drops its caches and reads the disk back; its checksum, the
       checksum of the disk vx86 left (qemu-img convert -O raw) and the
       checksum of what the writes should give agree, and qemu-img check
       finds nothing wrong
  vdb  a compressed image (qemu-img convert -c), read-only: its checksum
  vdc  a backing chain raw <- qcow2 <- qcow2 (backing=on): its checksum
  vdd  snapshot: the guest writes and reads its writes back; the image
       is unchanged afterwards

and three more boots on one image, each killed (SIGKILL) in the middle of
a write and discard workload: qemu-img check may find leaked clusters,
never corruption, and the next boot goes on from what the kill left; and,
on a raw and on a qcow2 disk, a kill after twenty fsync'd writes loses
none of the writes the guest saw complete.

The boots are gated on VX86_LINUX as test_linux_boot.py's are."""
import hashlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, VX86, guest, run_vx86

LINUX = os.environ.get("VX86_LINUX")
MIB = 1 << 20
linux = pytest.mark.skipif(not LINUX, reason="VX86_LINUX not set: the Linux boots run once per "
                           "suite, against the optimised build")


def qemu_img(*args, check=True):
    tool = shutil.which("qemu-img")
    if not tool:
        pytest.skip("qemu-img not found (scripts/setup-deps installs qemu-utils)")
    return subprocess.run([tool, *map(str, args)], capture_output=True, check=check, text=True)


def qemu_io(image, *cmds, fmt="qcow2"):
    args = ["qemu-io", "-f", fmt]
    for c in cmds:
        args += ["-c", c]
    subprocess.run(args + [str(image)], capture_output=True, check=True)


def md5(data):
    return hashlib.md5(data).hexdigest()


def as_raw(image, tmp_path):
    out = tmp_path / (image.name + ".raw")
    qemu_img("convert", "-O", "raw", image, out)
    return out.read_bytes()


def set_byte(image, offset, value):
    with open(image, "r+b") as f:
        f.seek(offset)
        f.write(bytes([value]))


def test_refused_images(tmp_path):
    img = tmp_path / "x.qcow2"
    raw = tmp_path / "r.img"
    raw.write_bytes(bytes(MIB))
    hello = guest("hello.elf")

    def made(*opts):
        for p in (img, tmp_path / "x.data"):
            p.unlink(missing_ok=True)
        qemu_img("create", "-q", "-f", "qcow2", *opts, img, "1M")

    cases = [
        (lambda: made("-o", "refcount_bits=8"), "",
         "qcow2 refcount_order 3 is not supported (4: 16-bit refcounts)"),
        (lambda: made("-o", "extended_l2=on"), "",
         "qcow2 extended L2 entries (subclusters) are not supported"),
        (lambda: made("-o", f"data_file={tmp_path}/x.data"), "",
         "qcow2 external data files are not supported"),
        (lambda: (made(), set_byte(img, 79, 1)), "",
         "qcow2 image not closed cleanly (dirty bit; lazy refcounts): repair it with "
         "qemu-img check -r all"),
        (lambda: (made(), set_byte(img, 79, 0x40)), "",
         "unknown qcow2 incompatible features 0x40"),
        (lambda: (made(), set_byte(img, 35, 1)), "", "encrypted qcow2 images are not supported"),
        (lambda: (made(), set_byte(img, 7, 4)), "", "qcow2 version 4 is not supported (2 and 3 are)"),
        (lambda: made("-b", raw, "-F", "raw"), "",
         f"qcow2 image with backing file {raw}: add backing=on to open it (read-only)"),
        (lambda: made(), ",format=qcow2", None),
    ]
    for make, opts, message in cases:
        make()
        disk = f"{img}{opts}"
        if message is None:  # a raw file named as qcow2
            disk, message = f"{raw},format=qcow2", "not a qcow2 image (format=qcow2)"
            shown = raw
        else:
            shown = img
        r = run_vx86("run", "--engine", "emu", "--kernel", hello, "--disk", disk)
        assert r.status == 2, r
        assert r.err.strip().splitlines()[-1] == f"vx86: --disk {shown}: {message}", r


def pattern(seed, n):
    block = hashlib.sha256(seed.encode()).digest() * 2048  # 64 KiB
    return (block * (n // len(block) + 1))[:n]


# The guest's writes to vda, each "dd" of seq's output (the host makes the
# same bytes) at a 512-byte sector, then one discard.
SEQ_WRITES = [("1 300000", 0), ("7 40000", 20480), ("500000 530000", 100), ("1 800000", 81920)]
DISCARD = (40 * MIB, 4 * MIB)

GUEST_SCRIPT = r"""
for w in {writes}; do
    set -- $(echo $w | tr : ' ')
    seq $1 $2 | tr ',' ' ' | dd of=/dev/vda bs=512 seek=$3 conv=notrunc,fsync 2>/dev/null
done
blkdiscard -o {doff} -l {dlen} /dev/vda; echo "discard $?"
sync; echo 3 >/proc/sys/vm/drop_caches
echo "vda $(md5sum </dev/vda)"
echo "vdb $(md5sum </dev/vdb)"
echo "vdc $(md5sum </dev/vdc)"
head -c 3000000 /dev/vdb | dd of=/dev/vdd bs=4096 seek=100 conv=fsync 2>/dev/null
echo 3 >/proc/sys/vm/drop_caches
echo "vdd-back $(dd if=/dev/vdd bs=4096 skip=100 count=733 2>/dev/null | head -c 3000000 | md5sum)"
echo "vdd-written $(head -c 3000000 /dev/vdb | md5sum)"
"""


def seq_bytes(spec):
    a, b = map(int, spec.split())
    return "".join(f"{i}\n" for i in range(a, b + 1)).encode()


def boot(tmp_path, script, disks, timeout=900):
    disk_s = tmp_path / "script.img"
    disk_s.write_bytes(script.encode() + b"\n" * (-len(script) % 512 + 512))
    args = [a for d in [f"{disk_s},ro", *disks] for a in ("--disk", d)]
    return run_vx86("run", "--engine", "emu", "--mem", "512M", "--kernel",
                    Path(LINUX) / "vmlinuz", "--initrd", ROOT / ".cache" / "initramfs.cpio.gz",
                    *args, "--cmdline",
                    'console=ttyS0 quiet vx86.run="cp /dev/vda /tmp/t; sh /tmp/t" '
                    'vx86.end=reboot', timeout=timeout)


@linux
def test_linux_on_qcow2_disks(tmp_path):
    # vda: the script; the guest's vda..vdd below are vdb..vde to vx86,
    # so the script names them one letter on.
    rw = tmp_path / "rw.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", rw, "64M")
    want = bytearray(64 * MIB)
    for spec, sector in SEQ_WRITES:
        data = seq_bytes(spec)
        want[sector * 512:sector * 512 + len(data)] = data
    want[DISCARD[0]:DISCARD[0] + DISCARD[1]] = bytes(DISCARD[1])

    src = tmp_path / "c.raw"
    src.write_bytes(pattern("compressed", 6 * MIB) + bytes(2 * MIB))
    comp = tmp_path / "c.qcow2"
    qemu_img("convert", "-q", "-c", "-O", "qcow2", src, comp)

    base = tmp_path / "base.raw"
    base.write_bytes(pattern("base", 8 * MIB))
    mid = tmp_path / "mid.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", base.name, "-F", "raw", mid)
    qemu_io(mid, "write -P 0x22 1M 100k")
    top = tmp_path / "top.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", mid.name, "-F", "qcow2", top)
    qemu_io(top, "write -P 0x33 1048000 5000", "write -P 0x44 7M 64k")
    chain = as_raw(top, tmp_path)

    snap = tmp_path / "snap.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", snap, "16M")
    qemu_io(snap, "write -P 0x55 0 1M")
    snap_before = md5(snap.read_bytes())

    writes = " ".join(f"{spec.replace(' ', ':')}:{sector}" for spec, sector in SEQ_WRITES)
    script = GUEST_SCRIPT.format(writes=writes, doff=DISCARD[0], dlen=DISCARD[1])
    script = script.replace("/dev/vdd", "/dev/vde").replace("/dev/vdc", "/dev/vdd") \
        .replace("/dev/vdb", "/dev/vdc").replace("/dev/vda", "/dev/vdb")
    r = boot(tmp_path, script, [rw, f"{comp},ro", f"{top},ro,backing=on", f"{snap},snapshot"])
    assert r.status == 0, r
    lines = r.out.replace("\r", "").split("\n")
    assert "vx86-initramfs: exit 0" in lines, r
    assert "discard 0" in lines, r
    assert f"vda {md5(want)}  -" in lines, r
    assert f"vdb {md5(src.read_bytes())}  -" in lines, r
    assert f"vdc {md5(chain)}  -" in lines, r
    written = next(line for line in lines if line.startswith("vdd-written "))
    assert f"vdd-back {written.split()[1]}  -" in lines, r

    assert qemu_img("check", rw, check=False).returncode == 0
    assert md5(as_raw(rw, tmp_path)) == md5(want)
    assert md5(snap.read_bytes()) == snap_before
    assert qemu_img("check", snap, check=False).returncode == 0


KILL_SCRIPT = r"""
echo writing
i=0
while true; do
    head -c 1000000 /dev/urandom | dd of=/dev/vdb bs=4096 seek=$((i * 250 % 15000)) \
        conv=notrunc 2>/dev/null
    [ $((i % 3)) = 0 ] && blkdiscard -o $((i * 1024000 % 50331648)) -l 1048576 /dev/vdb
    [ $((i % 4)) = 0 ] && sync
    i=$((i + 1))
    echo "round $i"
done
"""


@linux
def test_kill_mid_write_leaves_no_corruption(tmp_path):
    """Three kills on one image: each run starts on what the last left."""
    img = tmp_path / "k.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", img, "64M")
    disk_s = tmp_path / "script.img"
    disk_s.write_bytes(KILL_SCRIPT.encode() + b"\n" * (-len(KILL_SCRIPT) % 512 + 512))
    for stop in (3, 7, 12):
        proc = subprocess.Popen(
            [str(VX86), "run", "--engine", "emu", "--mem", "512M", "--kernel",
             str(Path(LINUX) / "vmlinuz"), "--initrd",
             str(ROOT / ".cache" / "initramfs.cpio.gz"), "--disk", f"{disk_s},ro", "--disk",
             str(img), "--cmdline", 'console=ttyS0 quiet vx86.run="cp /dev/vda /tmp/t; sh /tmp/t"'],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        out = b""
        try:
            deadline = time.monotonic() + 600
            while f"round {stop}\n".encode() not in out.replace(b"\r", b""):
                assert time.monotonic() < deadline and proc.poll() is None, out
                out += os.read(proc.stdout.fileno(), 4096)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        r = qemu_img("check", img, check=False)
        # 0: clean; 3: leaked clusters only (a kill may leave them); 2: corrupt.
        assert r.returncode in (0, 3), r.stdout + r.stderr
        assert "ERROR" not in r.stdout, r.stdout


# Blocks of 64 KiB, block i at 64 KiB * i holding the first 65,536 bytes of
# `seq` from 10,000 * i, each written with O_DIRECT and fsync'd before the
# guest says so: what vx86 has completed a FLUSH for must be in the image
# after a SIGKILL (data, and for qcow2 the tables that find it).
FSYNC_SCRIPT = r"""
i=1
while true; do
    seq $((i * 10000)) $((i * 10000 + 20000)) | head -c 65536 | \
        dd of=/dev/vdb bs=65536 seek=$i oflag=direct conv=notrunc,fsync 2>/dev/null
    echo "synced $i"
    i=$((i + 1))
done
"""


def seq_block(i):
    return "".join(f"{n}\n" for n in range(i * 10000, i * 10000 + 20001)).encode()[:65536]


@linux
@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_fsynced_data_survives_a_kill(tmp_path, fmt):
    img = tmp_path / f"f.{fmt}"
    if fmt == "raw":
        img.write_bytes(bytes(8 * MIB))
    else:
        qemu_img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", img, "8M")
    disk_s = tmp_path / "script.img"
    disk_s.write_bytes(FSYNC_SCRIPT.encode() + b"\n" * (-len(FSYNC_SCRIPT) % 512 + 512))
    proc = subprocess.Popen(
        [str(VX86), "run", "--engine", "emu", "--mem", "256M", "--kernel",
         str(Path(LINUX) / "vmlinuz"), "--initrd", str(ROOT / ".cache" / "initramfs.cpio.gz"),
         "--disk", f"{disk_s},ro", "--disk", str(img), "--cmdline",
         'console=ttyS0 quiet vx86.run="cp /dev/vda /tmp/t; sh /tmp/t"'],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = b""
    try:
        deadline = time.monotonic() + 600
        while b"synced 20\n" not in out.replace(b"\r", b""):
            assert time.monotonic() < deadline and proc.poll() is None, out
            out += os.read(proc.stdout.fileno(), 4096)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    synced = max(int(line.split()[1]) for line in out.replace(b"\r", b"").decode().splitlines()
                 if line.startswith("synced "))
    data = img.read_bytes() if fmt == "raw" else as_raw(img, tmp_path)
    for i in range(1, synced + 1):
        assert data[i * 65536:(i + 1) * 65536] == seq_block(i), f"block {i} of {synced} lost"
    if fmt == "qcow2":
        r = qemu_img("check", img, check=False)
        assert r.returncode in (0, 3) and "ERROR" not in r.stdout, r.stdout + r.stderr
