"""Every self-checking guest passes on every engine this host has: status 1
(debug-exit value 0) and PASS on the serial console."""
import pytest

from conftest import GUESTS, engine_unavailable, kvm_is_pvm, run_vx86

# fail_* guests end in a fault on purpose (test_errors.py); echo waits for
# console input (test_console.py); virtio and virtio_pci drive one transport
# each (test_virtio.py).
INTERACTIVE = {"echo.elf", "virtio.elf", "virtio_pci.elf"}
SMP = {"smp_atomic.elf"}  # test_smp.py runs it with 1, 2 and 4 vCPUs
# Guests that need devices a plain run lacks; the IOMMU is the emu engine's.
GUEST_OPTIONS = {"iommu.elf": ["--iommu", "--device", "edu"]}
EMU_ONLY = {"iommu.elf": "--iommu is the emu engine's (the kvm engine refuses it)",
            "jit_hostile.elf": "it fetches instructions from an address no device answers, "
                               "which KVM cannot emulate (an emulation failure: vx86 stops "
                               "with an engine error)"}
# Seconds a guest may take before it counts as hung (run_vx86's default is
# 60). jit_hostile fills the 64 MiB code cache: with every block translated
# at its first run under ASan it takes about 30 s on an idle machine here.
TIMEOUTS = {"jit_hostile.elf": 300}
PASS_GUESTS = sorted(p.name for p in GUESTS.glob("*")
                     if p.suffix in (".elf", ".bin") and not p.name.startswith("fail_")
                     and p.name not in INTERACTIVE | SMP)


def test_guests_were_built():
    assert "hello.elf" in PASS_GUESTS, f"no guests in {GUESTS}"


# What PVM, the software KVM of the development machines, gets wrong (each
# found by these guests, which pass on the emu engine and under QEMU's TCG).
# Not vx86's doing; on VT-x/AMD-V hosts these guests run on kvm too.
PVM_LIMITS = {
    "user.elf": "PVM mishandles SYSCALL and INT n from CPL 3",
    "fpu.elf": "PVM runs CPL 3 SSE/x87 under the host's CR0.TS, CR4.OSFXSR/OSXMMEXCPT and "
               "XCR0, and answers LDMXCSR's #GP with #UD",
    "bcd.elf": "PVM cannot emulate DAA/DAS/AAA/AAS/AAM/AAD at CPL 0",
    "v86.elf": "PVM cannot emulate a 32-bit protected-mode IRET",
    "callgate.elf": "PVM cannot emulate a 32-bit protected-mode IRET",
    "taskswitch.elf": "PVM raises #GP on enabling 32-bit paging and cannot switch tasks",
    "callgate64.elf": "PVM answers a far CALL through a call gate from CPL 3 with #UD",
    "smep_smap.elf": "PVM cannot emulate STAC/CLAC",
    "rep_copy.elf": "PVM takes about 55 s for its REP MOVS/STOS loops (1 s on emu), at the "
                    "edge of the 60 s limit",
    "rep_fault.elf": "PVM's emulator writes half of a store that straddles into a "
                     "not-present page before the #PF",
    "paging_pae.elf": "PVM raises #GP on enabling paging in 32-bit protected mode",
    "cpu_model.elf": "PVM runs the guest's CPUID on the host CPU, which has no CPUID "
                     "faulting, so the CPUID vx86 gives KVM never reaches the guest",
    "vendor.elf": "PVM runs the guest's CPUID on the host CPU, which has no CPUID "
                  "faulting, so the GenuineIntel vx86 gives KVM never reaches the guest",
    "msr.elf": "PVM accepts IA32_SPEC_CTRL and IA32_PRED_CMD though CPUID reports neither",
    "debug.elf": "PVM does not hold a single-step trap over MOV SS and cannot emulate "
                 "INT n with RFLAGS.TF set (KVM emulation failure)",
    "nmi.elf": "PVM keeps NMIs blocked after an IRET that faults",
    "avx.elf": "PVM hands the #UD of a VEX instruction (CR4.OSXSAVE clear) to KVM's "
               "emulator, which cannot decode VEX (KVM emulation failure)",
    "sti_shadow.elf": "PVM delivers a self-IPI that waited for IF later than after STI's "
                      "next instruction when that is a store or a jump (KVM's own in-kernel "
                      "LAPIC delivers it: vx86 takes no part)",
}


@pytest.mark.parametrize("name", PASS_GUESTS)
def test_guest_passes(engine, name):
    if engine == "kvm" and name in PVM_LIMITS and kvm_is_pvm():
        pytest.skip(f"{name} on kvm: {PVM_LIMITS[name]} (software-backed KVM here)")
    if engine == "kvm" and name in EMU_ONLY:
        pytest.skip(f"{name} on kvm: {EMU_ONLY[name]}")
    r = run_vx86("run", "--engine", engine, *GUEST_OPTIONS.get(name, []), "--mem", "128M",
                 "--cmdline", "vx86 test", "--kernel", GUESTS / name,
                 timeout=TIMEOUTS.get(name, 60))
    assert r.status == 1, r
    assert "PASS" in r.out and "FAIL" not in r.out, r
    # A guest skips the checks of a feature CPUID does not offer; the emu
    # CPU offers every one the guests check.
    if engine == "emu":
        assert "SKIP" not in r.out, r


# The emu engine's other two ways of running code: every block translated
# at its first run (VX86_JIT_EAGER=1: the translator on cold code, its
# templates' slow paths and stubs included), and the interpreter alone.
JIT_MODES = {"translate-at-once": ([], {"VX86_JIT_EAGER": "1"}),
             "interpret-only": (["--jit", "off"], None)}


@pytest.mark.parametrize("mode", JIT_MODES)
@pytest.mark.parametrize("name", PASS_GUESTS)
def test_guest_passes_emu_modes(name, mode):
    if engine_unavailable("emu"):
        pytest.skip(engine_unavailable("emu"))
    args, env = JIT_MODES[mode]
    r = run_vx86("run", "--engine", "emu", *args, *GUEST_OPTIONS.get(name, []), "--mem", "128M",
                 "--cmdline", "vx86 test", "--kernel", GUESTS / name, env=env,
                 timeout=TIMEOUTS.get(name, 60))
    assert r.status == 1, r
    assert "PASS" in r.out and "FAIL" not in r.out and "SKIP" not in r.out, r


# Every feature --cpu can take away, as QEMU names them.
CPU_FEATURES = ("x2apic", "tsc-deadline", "pcid", "invpcid", "smep", "smap", "umip",
                "fsgsbase", "tsc-adjust", "rdrand", "rdseed", "rdpid", "pdpe1gb", "pku", "pks",
                "serialize",
                "spec-ctrl", "arch-capabilities", "bhi-ctrl", "avx", "avx2", "fma", "f16c")


@pytest.mark.parametrize("off", [CPU_FEATURES, ("x2apic",), ("umip", "pdpe1gb", "rdpid"),
                                 ("avx2", "f16c")],
                         ids=["all", "x2apic", "some", "avx2"])
def test_cpu_model_takes_features_away(engine, off):
    if engine == "kvm" and kvm_is_pvm():
        pytest.skip(f"cpu_model.elf on kvm: {PVM_LIMITS['cpu_model.elf']} (software-backed KVM here)")
    r = run_vx86("run", "--engine", engine, "--mem", "128M",
                 "--cpu", "max," + ",".join("-" + f for f in off),
                 "--cmdline", "vx86 off=" + ",".join(off),
                 "--kernel", GUESTS / "cpu_model.elf")
    assert r.status == 1, r
    assert "PASS" in r.out and "FAIL" not in r.out, r
    for f in off:
        assert f"{f}: taken away, absent in CPUID" in r.out, r


def test_cpu_vendor_amd(engine):
    if engine == "kvm":
        pytest.skip("vendor.elf as AMD on kvm: KVM gives the guest the vendor string, but the "
                    "host CPU runs SYSENTER and SYSEXIT as its own vendor's do")
    r = run_vx86("run", "--engine", engine, "--mem", "128M", "--cpu", "max,vendor=AuthenticAMD",
                 "--cmdline", "vx86 amd", "--kernel", GUESTS / "vendor.elf")
    assert r.status == 1, r
    assert "PASS" in r.out and "FAIL" not in r.out, r
    assert "vendor AuthenticAMD" in r.out, r


def test_cpu_model_rejects_what_vx86_lacks():
    r = run_vx86("run", "--cpu", "max,+avx512f", "--kernel", GUESTS / "hello.elf")
    assert r.status == 2, r
    assert "'+avx512f' is not +FEATURE or -FEATURE of a feature vx86 implements" in r.err, r
    r = run_vx86("run", "--cpu", "host", "--kernel", GUESTS / "hello.elf")
    assert r.status == 2 and "unknown CPU model 'host'" in r.err, r
    r = run_vx86("run", "--cpu", "max,vendor=HygonGenuine", "--kernel", GUESTS / "hello.elf")
    assert r.status == 2 and "unknown vendor 'HygonGenuine'" in r.err, r


def test_hello_output(engine):
    r = run_vx86("run", "--engine", engine, "--cmdline", "hello world", "--mem", "64M",
                 "--kernel", GUESTS / "hello.elf")
    assert r.status == 1, r
    assert r.out.split("\n")[:3] == ["Hello from a vx86 guest\r",
                                      'command line: "hello world"\r', "RAM: 64 MiB\r"], r


def test_serial_to_file(engine, tmp_path):
    log = tmp_path / "console.txt"
    r = run_vx86("run", "--engine", engine, "--serial", log, "--kernel", GUESTS / "hello.elf")
    assert r.status == 1, r
    assert r.out == ""
    assert "Hello from a vx86 guest" in log.read_text()
