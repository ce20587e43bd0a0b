"""What a Linux guest sees of vx86's machine, on the emu engine: every vCPU
online, the CPU flags that vx86's CPUID gives and none it does not, a clock
that keeps the host's time, and a busybox workload whose results match the
host's; the same kernel booted as a vmlinux through its PVH entry; a
suspend to RAM and its wake-up; and the default guest's shell, where
`poweroff` ends vx86. One boot each (about 15 s here), run once per suite
with VX86_LINUX set."""
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, VX86, run_vx86

LINUX = os.environ.get("VX86_LINUX")

pytestmark = pytest.mark.skipif(not LINUX, reason="VX86_LINUX not set: the Linux boots run "
                                "once per suite, against the optimised build")

# Linux's names for what the emu engine's CPUID advertises (src/accel/emu/
# cpuid.c and fpu.c), and for extensions it does not implement.
EXPECTED_FLAGS = set("""fpu pse tsc msr pae cx8 apic sep mtrr pge cmov pat clflush mmx fxsr sse
    sse2 syscall nx pdpe1gb rdtscp lm constant_tsc pni pclmulqdq ssse3 cx16 pcid sse4_1 sse4_2 x2apic
    movbe popcnt tsc_deadline_timer aes xsave rdrand hypervisor lahf_lm abm fsgsbase smep erms
    invpcid rdseed smap clflushopt clwb rdpid umip tsc_adjust pku ospke ibrs ibpb ibrs_enhanced
    arch_capabilities avx avx2 fma f16c serialize""".split())
ABSENT_FLAGS = set("""avx512f bmi1 bmi2 adx sha_ni vmx svm hle rtm
    la57 mpx stibp ssbd""".split())

SEQ = 200000  # lines of `seq 1 SEQ`: the workload's input, about 1.3 MB


def boot(kernel, cpus, command):
    return run_vx86("run", "--engine", "emu", "--cpus", str(cpus), "--mem", "512M", "--kernel",
                    kernel, "--initrd", ROOT / ".cache" / "initramfs.cpio.gz", "--cmdline",
                    f'console=ttyS0 quiet vx86.run="{command}" vx86.end=poweroff', timeout=900)


def tagged(r):
    """Output lines "TAG rest" as {TAG: rest}."""
    out = {}
    for line in r.out.replace("\r", "").split("\n"):
        tag, _, rest = line.partition(" ")
        out.setdefault(tag, rest.strip())
    return out


def test_linux_sees_two_cpus_its_flags_the_time_and_computes_right():
    busybox = shutil.which("busybox")
    if not busybox:
        pytest.skip("no busybox on the host to compute the workload's reference")
    before = time.time()
    r = boot(Path(LINUX) / "vmlinuz", 2,
             "echo cpus $(nproc) $(cat /sys/devices/system/cpu/online);"
             " echo packages $(grep ^physical.id /proc/cpuinfo | sort -u | wc -l);"
             " echo loud $(dmesg -r | grep -c -E '^<[0-4]>');"
             " echo flags $(grep -m1 ^flags /proc/cpuinfo | cut -d: -f2);"
             " for f in /sys/devices/system/cpu/vulnerabilities/*;"
             " do echo vuln-${f##*/} $(cat $f); done;"
             " echo pti $(dmesg | grep -c 'page tables isolation: enable[d]');"
             " echo epoch $(date +%s); sleep 3; echo later $(date +%s);"
             f" seq 1 {SEQ} > /tmp/a; echo data $(md5sum < /tmp/a);"
             " echo gz $(gzip -6 -c /tmp/a | md5sum);"
             " echo back $(gzip -c /tmp/a | gunzip | md5sum)")
    after = time.time()
    assert r.status == 0, r
    assert r.err.strip().splitlines()[-1] == "vx86: guest powered off", r
    t = tagged(r)
    assert t.get("cpus") == "2 0-1", r
    assert t.get("packages") == "1", r  # two cores of one package
    assert t.get("loud") == "0", r  # no dmesg line at warning level or worse

    flags = set(t.get("flags", "").split())
    assert EXPECTED_FLAGS <= flags, f"missing: {EXPECTED_FLAGS - flags}\n{r}"
    assert not flags & ABSENT_FLAGS, f"advertised but not implemented: {flags & ABSENT_FLAGS}"

    # IA32_ARCH_CAPABILITIES says the CPU leaks nothing through speculation
    # (src/accel/emu/cpu/msr.c): Linux mitigates only what no bit can rule out
    # (Spectre V1 and V2), V2 with enhanced IBRS, not retpolines, and does
    # not isolate page tables.
    vuln = {tag[len("vuln-"):]: rest for tag, rest in t.items() if tag.startswith("vuln-")}
    assert "meltdown" in vuln and "mds" in vuln, r
    assert {k for k, v in vuln.items() if v != "Not affected"} == {"spectre_v1", "spectre_v2"}, vuln
    assert "Enhanced" in vuln["spectre_v2"] and "Retpoline" not in vuln["spectre_v2"], vuln
    assert t.get("pti") == "0", r

    # The wall clock (RTC and kvmclock/TSC) is the host's, and runs at its rate.
    epoch, later = int(t["epoch"]), int(t["later"])
    assert before - 1 <= epoch <= after + 1, (before, epoch, after)
    assert 3 <= later - epoch <= 4, (epoch, later)

    data = "".join(f"{i}\n" for i in range(1, SEQ + 1)).encode()
    gz = subprocess.run([busybox, "gzip", "-6", "-c"], input=data, capture_output=True,
                        check=True).stdout
    assert t.get("data") == f"{hashlib.md5(data).hexdigest()} -", r
    assert t.get("gz") == f"{hashlib.md5(gz).hexdigest()} -", r
    assert t.get("back") == f"{hashlib.md5(data).hexdigest()} -", r


def test_linux_vmlinux_boots_through_pvh():
    vmlinux = Path(LINUX) / "vmlinux"
    r = boot(vmlinux, 1, "echo release $(uname -r); echo cpus $(nproc)")
    assert r.status == 0, r
    release = (Path(LINUX) / "version").read_text().split()[0].removeprefix("linux-image-")
    t = tagged(r)
    assert t.get("release") == release, r
    assert t.get("cpus") == "1", r


def test_linux_enables_the_iommu_and_interrupt_remapping():
    """--iommu: Linux finds the VT-d unit through the DMAR table, runs its
    invalidation queue, remaps the IOAPIC's and virtio's MSI-X interrupts
    through it (the console and the virtio devices still work), and warns
    of nothing. virtio's own DMA bypasses the unit, as it does in QEMU
    without iommu_platform=on."""
    r = run_vx86("run", "--engine", "emu", "--cpus", "2", "--mem", "512M", "--iommu", "--kernel",
                 Path(LINUX) / "vmlinuz", "--initrd", ROOT / ".cache" / "initramfs.cpio.gz",
                 "--cmdline", "console=ttyS0 quiet intel_iommu=on vx86.run=\""
                 "echo loud $(dmesg -r | grep -c -E ^.[0-4].);"
                 # [x]: the pattern does not match the command line's echo.
                 " echo dmar $(dmesg | grep -c 'DMAR: IOMMU enable[d]');"
                 " echo qi $(dmesg | grep -c 'Using Queued invalidatio[n]');"
                 " echo remap $(dmesg | grep -c 'Enabled IRQ remapping in xapic mod[e]');"
                 " echo ir-ioapic $(grep -c IR-IO-APIC /proc/interrupts);"
                 " echo ir-msi $(grep IR-PCI-MSI /proc/interrupts | grep -c virtio);"
                 " echo groups $(ls /sys/kernel/iommu_groups | wc -l)\" vx86.end=poweroff",
                 timeout=900)
    assert r.status == 0, r
    t = tagged(r)
    assert t.get("loud") == "0", r
    assert (t.get("dmar"), t.get("qi"), t.get("remap")) == ("1", "1", "1"), r
    assert int(t.get("ir-ioapic", 0)) >= 2, r  # the timer and ttyS0 at least
    assert int(t.get("ir-msi", 0)) >= 2, r  # virtio-pci's MSI-X vectors
    assert int(t.get("groups", 0)) >= 2, r  # the host bridge and the virtio functions


def test_linux_suspends_to_ram_and_the_rtc_alarm_wakes_it():
    """ACPI S3 (hw/acpi_pm.h): `echo mem > /sys/power/state` with a wake
    alarm two seconds ahead sleeps and comes back, the second vCPU taken
    offline and started again, with no warning in dmesg, the alarm taken
    (rtc-cmos reads RTC_STS) and no failure in Linux's suspend statistics."""
    r = boot(Path(LINUX) / "vmlinuz", 2,
             "echo +2 > /sys/class/rtc/rtc0/wakealarm; echo mem > /sys/power/state;"
             " echo back $? cpus $(cat /sys/devices/system/cpu/online);"
             " echo loud $(dmesg -r | grep -c -E '^<[0-4]>');"
             " echo s3 $(dmesg | grep -c 'Waking up from system sleep state S[3]');"
             " echo exit $(dmesg | grep -c 'PM: suspend exi[t]');"
             " echo alarm x$(cat /sys/class/rtc/rtc0/wakealarm);"
             " echo fail $(cat /sys/power/suspend_stats/fail)")
    assert r.status == 0, r
    t = tagged(r)
    assert t.get("back") == "0 cpus 0-1", r
    assert t.get("loud") == "0", r
    assert (t.get("s3"), t.get("exit"), t.get("fail")) == ("1", "1", "0"), r
    assert t.get("alarm") == "x", r


def test_poweroff_typed_at_the_shell_ends_vx86():
    proc = subprocess.Popen([str(VX86), "run", "--engine", "emu", "--mem", "512M", "--kernel",
                             str(Path(LINUX) / "vmlinuz"), "--initrd",
                             str(ROOT / ".cache" / "initramfs.cpio.gz"), "--cmdline",
                             "console=ttyS0 quiet"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        for line in proc.stdout:
            if line.startswith(b"vx86-initramfs: shell on the console"):
                break
        # The shell's line editor asks the terminal where its cursor is and
        # takes what comes next as the answer: give it an empty line first.
        time.sleep(2)
        proc.stdin.write(b"\n")
        proc.stdin.flush()
        time.sleep(2)
        proc.stdin.write(b"echo typed $((6 * 7))\npoweroff\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert b"typed 42" in out, out
    assert err.decode().strip().splitlines()[-1] == "vx86: guest powered off", err
