"""`vx86 host`: what the host offers for virtualization.

Expectations on the real host are computed from the same files vx86 reads, so
these tests hold on any machine. Fake hosts are sysroots given in
VX86_HOST_ROOT.
"""
import fcntl
import json
import os
import subprocess
from pathlib import Path

import pytest

VX86 = Path(os.environ.get("VX86", Path(__file__).parents[2] / "build" / "vx86"))
KVM_GET_API_VERSION = 0xAE00  # _IO(KVMIO, 0x00), linux/kvm.h


@pytest.fixture(scope="module")
def vx86():
    if not VX86.is_file():
        pytest.fail(f"{VX86} not built (set VX86 to the binary)")
    return VX86


def host(vx86, *args, root=None):
    env = dict(os.environ)
    env.pop("VX86_HOST_ROOT", None)
    if root is not None:
        env["VX86_HOST_ROOT"] = str(root)
    return subprocess.run([str(vx86), "host", *args], env=env, capture_output=True, timeout=30)


def lines(out):
    """The human report as {name: "value (source)"}; repeated names keep the first."""
    rows = {}
    for line in out.decode().splitlines():
        name, _, rest = line.partition(": ")
        rows.setdefault(name, rest.strip())
    return rows


def report(vx86, *args, root=None):
    r = host(vx86, *args, root=root)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stderr == b""
    return r.stdout


def real_cpuinfo():
    """vendor_id and the flags of the first processor, as vx86 reads them."""
    vendor, flags = None, set()
    for line in Path("/proc/cpuinfo").read_text().split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "vendor_id":
            vendor = value.strip()
        elif key in ("flags", "vmx flags"):
            flags.update(value.split())
    return vendor, flags


def real_kvm_usable():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fcntl.ioctl(fd, KVM_GET_API_VERSION) == 12
    except OSError:
        return False
    finally:
        os.close(fd)


def expected_backing():
    """What the "kvm backing" line must say on this host."""
    _, flags = real_cpuinfo()
    module = lambda name: Path("/sys/module", name).exists()
    if not real_kvm_usable():
        return "none"
    if module("kvm_pvm") and not module("kvm_intel") and not module("kvm_amd"):
        return "software-backed, PVM"
    if "vmx" in flags or "svm" in flags:
        return "hardware-backed"
    return "software-backed"


def test_human_report_on_this_host(vx86):
    vendor, _ = real_cpuinfo()
    rows = lines(report(vx86))
    backing = expected_backing()

    assert rows["cpu vendor"] == f"{vendor} (/proc/cpuinfo vendor_id)"
    assert rows["kvm backing"].startswith(backing), rows["kvm backing"]
    engine = "kvm" if backing.startswith("hardware") else "emu"
    assert rows["engine auto"].startswith(engine + ", "), rows["engine auto"]
    assert rows["/dev/kvm"].startswith("present" if Path("/dev/kvm").exists() else "absent")
    # Each line names where its answer came from.
    assert all(value.endswith(")") for value in rows.values()), rows


def test_json_agrees_with_cpuinfo(vx86):
    vendor, flags = real_cpuinfo()
    facts = json.loads(report(vx86, "--json"))

    assert facts["root"] is None
    assert facts["cpu"]["vendor"] == vendor
    for flag in ("vmx", "svm", "hypervisor"):
        assert facts["cpu"][flag] is (flag in flags), flag
    assert facts["kvm"]["present"] is Path("/dev/kvm").exists()
    assert facts["kvm"]["usable"] is real_kvm_usable()
    hardware = expected_backing().startswith("hardware")
    assert facts["kvm"]["backing"]["hardware"] is hardware
    assert facts["engine_auto"]["engine"] == ("kvm" if hardware else "emu")
    if expected_backing() == "software-backed, PVM":
        assert facts["kvm"]["backing"]["value"] == "software"
        assert facts["kvm"]["backing"]["kind"] == "PVM"
    if not Path("/sys/module/kvm_intel").exists():
        assert facts["features"]["ept"]["value"] is None
        assert facts["features"]["ept"]["note"] == "kvm_intel not loaded"


def test_empty_root_gives_unknown_answers(vx86, tmp_path):
    rows = lines(report(vx86, root=tmp_path))
    assert rows["root"] == f"{tmp_path} (VX86_HOST_ROOT)"
    assert rows["cpu vendor"].startswith("unknown")
    assert rows["vmx (Intel VT-x)"].startswith("unknown")
    assert rows["/dev/kvm"] == "absent (/dev/kvm)"
    assert rows["kvm usable"].startswith("no, /dev/kvm is absent")
    assert rows["EPT"].startswith("unknown (kvm_intel not loaded)")
    assert rows["AVIC"].startswith("unknown (kvm_amd not loaded)")
    assert rows["iommu groups"].startswith("unknown")
    assert rows["engine auto"].startswith("emu, /dev/kvm is absent")

    facts = json.loads(report(vx86, "--json", root=tmp_path))
    assert facts["root"] == str(tmp_path)
    assert facts["cpu"]["readable"] is False
    assert facts["cpu"]["vendor"] is None
    assert facts["cpu"]["vmx"] is None and facts["cpu"]["svm"] is None
    assert facts["kvm"]["present"] is False and facts["kvm"]["usable"] is False
    assert facts["kvm"]["modules"] == {"kvm": False, "kvm_intel": False, "kvm_amd": False,
                                       "kvm_pvm": False}
    assert all(f["value"] is None for f in facts["features"].values())
    assert facts["iommu"]["groups"] is None and facts["iommu"]["units"] is None
    assert facts["sriov"]["devices"] is None
    assert facts["engine_auto"]["engine"] == "emu"


def fake_intel(root, model="Intel(R) Xeon(R) Fake CPU"):
    proc = root / "proc"
    params = root / "sys/module/kvm_intel/parameters"
    proc.mkdir()
    params.mkdir(parents=True)
    (proc / "cpuinfo").write_bytes(
        b"processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: " + model.encode("utf-8",
        "surrogateescape") + b"\nflags\t\t: fpu vmx ept vpid\nvmx flags\t: vnmi ept vpid"
        b" unrestricted_guest\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\n")
    (params / "ept").write_text("Y\n")
    (params / "nested").write_text("N\n")
    return root


def test_fake_intel_root_reports_ept(vx86, tmp_path):
    root = fake_intel(tmp_path)
    rows = lines(report(vx86, root=root))
    assert rows["cpu vendor"] == "GenuineIntel (/proc/cpuinfo vendor_id)"
    assert rows["vmx (Intel VT-x)"] == "yes (/proc/cpuinfo flags)"
    assert rows["EPT"] == "yes (/sys/module/kvm_intel/parameters/ept)"
    assert rows["nested (VT-x)"] == "no (/sys/module/kvm_intel/parameters/nested)"
    assert rows["VMCS shadowing"].startswith("unknown (no such parameter)")
    assert rows["NPT (RVI)"].startswith("unknown (kvm_amd not loaded)")
    assert rows["virtualization flags"].startswith("ept vpid unrestricted_guest vnmi")
    # /dev/kvm is absent in the fake tree, so KVM is not usable, vmx or not.
    assert rows["kvm usable"].startswith("no, /dev/kvm is absent")
    assert rows["engine auto"].startswith("emu, ")

    facts = json.loads(report(vx86, "--json", root=root))
    assert facts["cpu"]["vmx"] is True and facts["cpu"]["svm"] is False
    assert facts["cpu"]["flags"]["unrestricted_guest"] is True
    assert facts["features"]["ept"] == {"value": True, "note": None,
                                        "source": "/sys/module/kvm_intel/parameters/ept"}
    assert facts["kvm"]["modules"]["kvm_intel"] is True
    assert facts["kvm"]["usable"] is False
    assert facts["kvm"]["backing"]["hardware"] is False


def test_json_escapes_odd_text(vx86, tmp_path):
    model = 'A "quoted" \\ model\x01\tname \udcff end'  # \udcff: the byte 0xff
    root = fake_intel(tmp_path, model)
    facts = json.loads(report(vx86, "--json", root=root))
    assert facts["cpu"]["model"] == 'A "quoted" \\ model\x01\tname \ufffd end'


def test_fake_sysfs_iommu_and_sriov(vx86, tmp_path):
    for d in ("sys/kernel/iommu_groups/0", "sys/kernel/iommu_groups/1", "sys/class/iommu/ivhd0"):
        (tmp_path / d).mkdir(parents=True)
    nic = tmp_path / "sys/bus/pci/devices/0000:41:00.0"
    nic.mkdir(parents=True)
    (tmp_path / "sys/bus/pci/devices/0000:00:00.0").mkdir()
    (nic / "sriov_totalvfs").write_text("64\n")
    (nic / "sriov_numvfs").write_text("8\n")

    rows = lines(report(vx86, root=tmp_path))
    assert rows["iommu groups"] == "2 (/sys/kernel/iommu_groups)"
    assert rows["iommu units"] == "ivhd0 (AMD-Vi) (/sys/class/iommu)"
    assert rows["sr-iov"].startswith("0000:41:00.0, 8 of 64 VFs enabled")

    facts = json.loads(report(vx86, "--json", root=tmp_path))
    assert facts["iommu"]["units"] == ["ivhd0"]
    assert facts["iommu"]["amdvi"] is True and facts["iommu"]["vtd"] is False
    assert facts["sriov"]["devices"] == [{"address": "0000:41:00.0", "total_vfs": 64,
                                          "num_vfs": 8}]


@pytest.mark.parametrize("args", [["--bogus"], ["--json", "extra"], ["-j"]])
def test_unknown_option_is_rejected(vx86, args):
    r = host(vx86, *args)
    assert r.returncode == 2
    assert r.stdout == b""
    err = r.stderr.decode().splitlines()
    assert len(err) == 1 and err[0].startswith("vx86: ") and args[-1] in err[0], err
