"""The Debian 12 disk image that scripts/debian-image builds, booted as a
cloud image: under QEMU (TCG, through SeaBIOS and the image's GRUB: the
reference) and under vx86's emu engine, through SeaBIOS and GRUB as well
and with the image's own kernel and initramfs given (root on the image).
Each boot must reach the login prompt on the serial console, take the SSH
key and hostname from its cloud-init seed, let ssh in through user-mode
networking's hostfwd, say `running` to `systemctl is-system-running`,
write 200 MB with fsync, compile a C program, run apt-get update, and
power off when asked; vx86's boots may show
no kernel warning (dmesg at warning level and above) that QEMU's did not.

Run by scripts/test-image, which builds the image first; skipped unless
VX86_IMAGE_TESTS=1 and the image is in .cache/images (or $VX86_IMAGES):
building it downloads Debian packages, which the suite never does, and the
boots take minutes, past the suite's budget. A boot
takes two to three minutes here (2026-12-07, a 2-core host shared with other
work: QEMU TCG login 57-134 s, running 60-174 s; vx86 emu login 95-131 s,
running 150-170 s), so the time limits below are generous."""
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, VX86

IMAGES = Path(os.environ.get("VX86_IMAGES", ROOT / ".cache" / "images"))
QCOW2 = IMAGES / "debian-12.qcow2"
RAW = IMAGES / "debian-12.raw"
VMLINUZ = IMAGES / "debian-12-vmlinuz"
INITRD = IMAGES / "debian-12-initrd.img"
HOSTNAME = "vx86-debian"
USER = "debian"  # Debian's cloud-init default user

pytestmark = [
    pytest.mark.skipif(os.environ.get("VX86_IMAGE_TESTS") != "1",
                       reason="minutes per boot: scripts/test-image runs these"),
    pytest.mark.skipif(not all(p.exists() for p in (QCOW2, RAW, VMLINUZ, INITRD)),
                       reason=f"no Debian image in {IMAGES} (scripts/debian-image builds it)"),
]

LOGIN_S = 600     # to the login prompt
SSH_S = 300       # from the prompt to an ssh session
RUNNING_S = 600   # for systemctl is-system-running --wait
POWEROFF_S = 180


def tool(name, package):
    path = shutil.which(name) or shutil.which(name, path="/sbin:/usr/sbin")
    if not path:
        pytest.skip(f"{name} not found (apt-get install {package})")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def seed(tmp_path):
    """An SSH key pair and the cloud-init user-data and meta-data giving the
    guest that key and a hostname."""
    tool("ssh", "openssh-client")
    key = tmp_path / "key"
    subprocess.run([tool("ssh-keygen", "openssh-client"), "-q", "-t", "ed25519", "-N", "",
                    "-f", key], check=True)
    (tmp_path / "user-data").write_text(
        f"#cloud-config\nhostname: {HOSTNAME}\n"
        f"ssh_authorized_keys:\n  - {(tmp_path / 'key.pub').read_text().strip()}\n")
    (tmp_path / "meta-data").write_text(
        f"instance-id: iid-{tmp_path.name}\nlocal-hostname: {HOSTNAME}\n")
    return tmp_path


class Machine:
    """A VMM process whose serial console (its stdout) is collected on a
    thread; what it printed is in .console."""

    def __init__(self, args, port, key):
        self.args, self.port, self.key = args, port, key
        self.start = time.monotonic()
        self.times = {}
        self.buf = bytearray()
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while chunk := os.read(self.proc.stdout.fileno(), 65536):
            self.buf += chunk

    @property
    def console(self):
        return self.buf.decode(errors="replace")

    def mark(self, what):
        self.times[what] = round(time.monotonic() - self.start, 1)

    def wait_console(self, text, timeout):
        deadline = time.monotonic() + timeout
        while text.encode() not in self.buf:
            assert self.proc.poll() is None, f"exited ({self.proc.returncode}) before '{text}'"
            assert time.monotonic() < deadline, f"no '{text}' on the console in {timeout} s"
            time.sleep(0.5)
        self.mark(text)

    def ssh(self, command, timeout=60):
        return subprocess.run(
            ["ssh", "-i", self.key, "-p", str(self.port), "-o", "BatchMode=yes",
             "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
             "-o", "ConnectTimeout=30", f"{USER}@127.0.0.1", command],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)

    def wait_ssh(self, timeout):
        deadline = time.monotonic() + timeout
        why = ""
        while True:
            try:
                r = self.ssh("hostname", timeout=90)
                if r.returncode == 0:
                    break
                why = r.stderr.strip()
            except subprocess.TimeoutExpired:
                why = "ssh timed out"
            assert self.proc.poll() is None, f"exited ({self.proc.returncode}) before ssh"
            assert time.monotonic() < deadline, f"no ssh in {timeout} s: {why}"
            time.sleep(2)
        self.mark("ssh")
        return r.stdout.strip()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def __repr__(self):
        return f"times {self.times}\n--- console (end)\n{self.console[-6000:]}"


# The kernel's warnings in QEMU's boot of the image, which vx86's boots may
# have too (they run after it in this file), but no others.
QEMU_WARNINGS = {}


def warning(line):
    """A kernel message without its timestamp."""
    return line.split("] ", 1)[1] if line.startswith("[") and "] " in line else line


def check_cloud_image(m):
    """The checks every boot goes through, in boot order (login, ssh,
    running, a 200 MB fsync'd write, a C program compiled and run, apt's
    lists fetched from Debian's archive through user-mode networking, the
    kernel's warnings kept in m.warnings); returns the VMM's exit status
    after the guest powered off."""
    try:
        m.wait_console("login:", LOGIN_S)
        assert m.wait_ssh(SSH_S) == HOSTNAME, m
        r = m.ssh("systemctl is-system-running --wait; systemctl --failed --no-legend",
                  timeout=RUNNING_S)
        m.mark("running")
        assert r.stdout.split("\n")[0] == "running", (r.stdout, m)
        r = m.ssh("dd if=/dev/zero of=/var/tmp/big bs=1M count=200 conv=fsync 2>&1 | tail -1;"
                  " rm /var/tmp/big", timeout=600)
        assert r.stdout.startswith("209715200 bytes"), (r.stdout, m)
        m.mark("write")
        r = m.ssh("printf 'int main(void) { return 42; }\\n' >/tmp/t.c && gcc -O2 -o /tmp/t /tmp/t.c;"
                  " /tmp/t; echo status $?", timeout=600)
        assert "status 42" in r.stdout, (r.stdout, m)
        r = m.ssh("sudo apt-get update -q >/tmp/apt.log 2>&1; echo apt $?; tail -3 /tmp/apt.log",
                  timeout=600)
        assert r.stdout.startswith("apt 0"), (r.stdout, m)
        m.mark("compile, apt")
        r = m.ssh("sudo dmesg --level=emerg,alert,crit,err,warn")
        m.warnings = {warning(line) for line in r.stdout.splitlines() if line.strip()}
        print(f"\n{m.args[0]} warnings: {sorted(m.warnings)}")
        m.ssh("sudo systemctl poweroff")
        status = m.proc.wait(timeout=POWEROFF_S)
        m.mark("exit")
        print(f"\n{m.args[0]}: {m.times}")
        return status
    finally:
        m.stop()


def test_image_is_a_bios_disk():
    """The image as the script promises it: qcow2 clean, an msdos label with
    one bootable partition at 1 MiB, GRUB's boot.img in the MBR, the ext4
    root file system labelled debian-root."""
    qemu_img = tool("qemu-img", "qemu-utils")
    r = subprocess.run([qemu_img, "check", QCOW2], capture_output=True, text=True)
    assert r.returncode == 0 and "No errors were found" in r.stdout, r.stdout + r.stderr
    table = subprocess.run([tool("sfdisk", "fdisk"), "-d", RAW], capture_output=True,
                           text=True, check=True).stdout
    assert "label: dos" in table
    assert "start=        2048" in table and "type=83, bootable" in table, table
    with open(RAW, "rb") as f:
        mbr = f.read(1024)
    assert mbr[510:512] == b"\x55\xaa"
    assert b"GRUB " in mbr[:440], "no GRUB boot.img in the MBR"
    assert mbr[512:1024] != bytes(512), "no core.img after the MBR"
    probe = subprocess.run([tool("blkid", "util-linux"), "-p", "-O", "1048576", "-o", "export",
                            RAW], capture_output=True, text=True, check=True).stdout.split()
    assert "TYPE=ext4" in probe and "LABEL=debian-root" in probe, probe


def test_qemu_boots_the_image(seed):
    """The reference: QEMU's PC with SeaBIOS boots the image through GRUB.
    virtio-net, as the cloud kernel has no e1000 driver (QEMU's default NIC
    on -M pc)."""
    qemu = tool("qemu-system-x86_64", "qemu-system-x86")
    iso = seed / "seed.iso"
    subprocess.run([tool("genisoimage", "genisoimage"), "-quiet", "-output", iso,
                    "-volid", "cidata", "-joliet", "-rock", seed / "user-data",
                    seed / "meta-data"], check=True)
    port = free_port()
    m = Machine([qemu, "-accel", "tcg", "-M", "pc", "-m", "1G", "-nographic",
                 "-drive", f"file={QCOW2},if=virtio,format=qcow2,snapshot=on",
                 "-drive", f"file={iso},if=virtio,format=raw,readonly=on",
                 "-nic", f"user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:{port}-:22"],
                port, seed / "key")
    assert check_cloud_image(m) == 0, m
    assert "GRUB" in m.console and "Booting `Debian GNU/Linux 12'" in m.console, m
    QEMU_WARNINGS["pc"] = m.warnings


def vx86_boot(seed, *boot):
    """vx86's emu engine with the boot arguments given, the seed from
    --cloud-init and ssh forwarded: the cloud image's checks, then the
    power-off vx86 reports; returns the machine."""
    port = free_port()
    m = Machine([str(VX86), "run", "--engine", "emu", "--mem", "1G", *boot,
                 "--cloud-init", f"{seed / 'user-data'},meta-data={seed / 'meta-data'}",
                 "--net", f"user,hostfwd=tcp:127.0.0.1:{port}-:22"],
                port, seed / "key")
    assert check_cloud_image(m) == 0, m
    assert "vx86: guest powered off" in m.console, m
    if "pc" in QEMU_WARNINGS:
        assert m.warnings <= QEMU_WARNINGS["pc"], (m.warnings - QEMU_WARNINGS["pc"], m)
    return m


def test_vx86_boots_the_image(seed, tmp_path):
    """vx86's emu engine boots the image's kernel and initramfs directly,
    root found by its label on a copy of the qcow2 disk, written in place
    (cloud-init's first boot, the checks' writes), which `qemu-img check`
    then finds clean."""
    disk = tmp_path / "debian-12.qcow2"
    shutil.copyfile(QCOW2, disk)
    vx86_boot(seed, "--kernel", VMLINUZ, "--initrd", INITRD,
              "--cmdline", "root=LABEL=debian-root ro console=ttyS0", "--disk", disk)
    r = subprocess.run([tool("qemu-img", "qemu-utils"), "check", disk], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_vx86_boots_the_image_through_firmware(seed):
    """vx86 as QEMU: no --kernel, so SeaBIOS boots the raw image's MBR and
    its GRUB boots the image's kernel (snapshot: the image stays as built)."""
    m = vx86_boot(seed, "--disk", f"{RAW},snapshot")
    assert "GRUB" in m.console and "Booting `Debian GNU/Linux 12'" in m.console, m
