"""Debian's stock kernel and the busybox initramfs boot on the emu engine and
run a command: once with ACPI (then `poweroff` ends vx86 through ACPI S5),
once with acpi=off (then `reboot` ends it through the i8042); both check
that the kernel logs nothing at warning level or worse. Slow (about two
minutes each here), so scripts/test runs them once, against the optimised
build, with VX86_LINUX set to the folder scripts/fetch-kernel fills."""
import hashlib
import os
from pathlib import Path

import pytest

from conftest import ROOT, run_vx86

LINUX = os.environ.get("VX86_LINUX")

pytestmark = pytest.mark.skipif(not LINUX, reason="VX86_LINUX not set: the Linux boots run "
                                "once per suite, against the optimised build")

# How the kernel and ACPICA say that they do not like the firmware's tables:
# "ACPI Error:", "ACPI BIOS Warning (bug):", "[Firmware Bug]:", "... failed".
COMPLAINTS = ("error", "warning", "firmware bug", "invalid", "mismatch", "fail", "unable")
# Printed on every ACPI PC (QEMU's too): advice, not a complaint.
NOT_COMPLAINTS = ('PCI: Using host bridge windows from ACPI; if necessary, use "pci=nocrs"'
                  ' and report a bug',)


def boot(cmdline, *extra, timeout=900):
    kernel = Path(LINUX) / "vmlinuz"
    initrd = ROOT / ".cache" / "initramfs.cpio.gz"
    return run_vx86("run", "--engine", "emu", "--mem", "512M", "--kernel", kernel,
                    "--initrd", initrd, *extra, "--cmdline", cmdline, timeout=timeout)


def lines_of(r):
    return r.out.replace("\r", "").split("\n")


# kernel/time/clocksource.c prints this when its watchdog timer ran more than
# a second late (WATCHDOG_INTERVAL_MAX_NS), that is when the host did not run
# the vCPU thread for that long: seen here once in a dozen acpi=off boots,
# while other guests kept this machine's two cores busy (load average 4). A
# matter of host load, not of the devices or tables a VMM offers.
HOST_STALL = "clocksource: Long readout interval, skipping watchdog check: "


def loud_lines(lines, allowed=()):
    """What `dmesg -r | grep -E '^<[0-4]>'` printed between loud-begin and
    loud-end, without level and time stamp, less the allowed lines."""
    begin, end = lines.index("loud-begin"), lines.index("loud-end")
    loud = [line.split("] ", 1)[-1] for line in lines[begin + 1:end]]
    return [line for line in loud if line not in allowed and not line.startswith(HOST_STALL)]


def test_linux_runs_a_command_and_powers_off():
    r = boot('console=ttyS0 quiet vx86.run="uname -sr; grep -c ^processor /proc/cpuinfo;'
             ' echo sum $(echo vx86 | md5sum); dmesg | grep -i -E acpi\\|firmware\\|pci;'
             " echo loud-begin; dmesg -r | grep -E '^<[0-4]>'; echo loud-end\""
             ' vx86.end=poweroff')
    assert r.status == 0, r
    package = (Path(LINUX) / "version").read_text().split()[0]
    release = package.removeprefix("linux-image-")
    lines = lines_of(r)
    assert f"Linux {release}" in lines, r
    assert "1" in lines, r  # one CPU
    # The guest's MD5 of "vx86\n" matches the host's: integer code ran right.
    digest = hashlib.md5(b"vx86\n").hexdigest()
    assert f"sum {digest} -" in lines, r
    # The kernel took vx86's tables and found S3 and S5 in the DSDT.
    acpi = [line for line in lines if "ACPI" in line]
    assert any("ACPI: RSDP 0x00000000000E0000" in line for line in acpi), r
    assert any("ACPI: Interpreter enabled" in line for line in acpi), r
    assert any("ACPI: PM: (supports S0 S3 S5)" in line for line in acpi), r
    complaints = [line for line in lines
                  if ("acpi" in line.lower() or "firmware" in line.lower()) and
                  any(w in line.lower() for w in COMPLAINTS) and
                  not any(n in line for n in NOT_COMPLAINTS)]
    assert not complaints, r
    # Nothing at KERN_WARNING or worse (busybox's dmesg -r prints "<level>"):
    # before the PCI host, "PCI: Fatal: No config space access function found".
    assert loud_lines(lines) == [], r
    # The DSDT's host bridge, and the MCFG's ECAM window accepted (Linux uses
    # it for the extended configuration space, mechanism #1 for the rest).
    assert any("ACPI: PCI Root Bridge [PCI0] (domain 0000 [bus 00])" in line for line in lines), r
    assert any("pci 0000:00:00.0: [1b36:0008] type 00 class 0x060000" in line
               for line in lines), r
    assert any("PCI: MMCONFIG at [mem 0xe0000000-0xe00fffff] reserved in E820" in line
               for line in lines), r
    assert "vx86-initramfs: exit 0" in r.out, r
    assert r.err.strip().splitlines()[-1] == "vx86: guest powered off", r


# Printed at KERN_WARNING with acpi=off because of how Debian's kernel is
# configured, whatever the firmware: without CONFIG_X86_MPPARSE,
# acpi_mps_check() (arch/x86/kernel/acpi/boot.c) warns that MP tables cannot
# be read and turns the local APIC off, so no table fills
# phys_cpu_present_map and smp_sanity_check() (arch/x86/kernel/smpboot.c)
# warns that the boot CPU is missing from it; vx86's MP tables go unread.
# QEMU -M pc (TCG, SeaBIOS's MP tables) prints both with the same kernel and
# initramfs. They are allowed only while the kernel's config says so.
NO_MPPARSE_WARNINGS = (
    "ACPI: MPS support code is not built-in, using acpi=off or acpi=noirq or pci=noacpi"
    " may have problem",
    "smpboot: weird, boot CPU (#0) not listed by the BIOS",
)


def test_linux_boots_with_acpi_off_and_resets():
    # On virtio-mmio: without ACPI this kernel (no MP-table support) finds
    # no virtio-mmio device, but would find the PCI functions and then warn
    # that it can route none of their interrupts (README, --transport).
    r = boot('console=ttyS0 quiet acpi=off vx86.run="echo no ACPI: $(ls /sys/firmware/acpi'
             ' 2>&1 | wc -l); dmesg | grep -E i8042\\|serio\\|input:;'
             " echo loud-begin; dmesg -r | grep -E '^<[0-4]>'; echo loud-end\""
             ' vx86.end=reboot', "--transport", "mmio")
    assert r.status == 0, r
    assert "vx86-initramfs: exit 0" in r.out, r
    lines = lines_of(r)
    assert "no ACPI: 1" in lines, r  # ls: /sys/firmware/acpi: No such file...
    # Linux probes the i8042's ports, finds both and the keyboard behind the
    # first (its input number depends on what else registered first).
    for found in ("serio: i8042 KBD port at 0x60,0x64 irq 1",
                  "serio: i8042 AUX port at 0x60,0x64 irq 12",
                  "input: AT Translated Set 2 keyboard as /devices/platform/i8042/serio0/"):
        assert any(found in line for line in lines), (found, r)
    # Nothing at KERN_WARNING or worse but what the kernel's configuration
    # causes; before, the i8042 gave "Can't read CTR while initializing i8042".
    config = (Path(LINUX) / "config").read_text().splitlines()
    allowed = NO_MPPARSE_WARNINGS if "# CONFIG_X86_MPPARSE is not set" in config else ()
    assert loud_lines(lines, allowed) == [], r
    assert "vx86: guest requested a reset through the i8042" in r.err, r
