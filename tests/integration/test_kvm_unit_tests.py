"""kvm-unit-tests (the peer suite, ../shared/peers/kvm-unit-tests.tar.gz)
under vx86's emu engine: each test that passes on vx86 must keep passing.
scripts/kvm-unit-tests builds the suite once into .cache/kvm-unit-tests and
turns each test's unittests.cfg entry into vx86's command line, the same way
for this file as for the table it prints against QEMU.

Left out: the tests that fail or time out on vx86 (the script's table says
which and why), and the slow ones: sieve, and all but four of the
vmexit_* loops (each times a million exits, ~3 s here; vmexit_ipi is in
for its -machine pit=off, which is vx86's --no-pit). kvmclock_test runs
with 10^5 loops per check instead of 10^7 (100 s on the emu engine)."""
import importlib.machinery
import importlib.util
import subprocess

import pytest

from conftest import ROOT, engine_unavailable, run_vx86

SCRIPT = ROOT / "scripts" / "kvm-unit-tests"

PASSING = [
    "ioapic", "smptest", "smptest3", "vmexit_cpuid", "vmexit_inl_pmtimer", "vmexit_ipi_halt",
    "smap", "memory", "setjmp", "tsc", "xsave", "rmap_chain", "pcid-enabled", "rdpru", "umip",
    "kvmclock_test", "x2apic", "xapic", "vmexit_vmcall", "access", "emulator", "hypercall",
    "idt_test", "msr", "msr64", "tsc_adjust", "pcid-disabled", "pcid-asymmetric", "la57",
    "debug", "eventinj", "pku", "pks", "syscall", "realmode", "vmexit_ipi", "intel_iommu", "s3",
]

# Smaller parameters than unittests.cfg gives, for time.
TEST_ARGS = {"kvmclock_test": "100000 `date +%s`"}
# access tries every combination of page-table bits, and with protection
# keys every key setting too: minutes on the emu engine. Here it runs
# without PKU (12 s; 40 s under ASan); pku and tests/guests/pku.c check the
# keys, and scripts/kvm-unit-tests runs access with them.
QEMU_PARAMS = {"access": "-cpu max,host-phys-bits,-pku"}
# apic.c's "apic change mode" reads the LAPIC timer's count (TMCCT) on
# either side of a mode change and expects the count not to have reached
# 0 or wrapped in between: the guest's time is the host's, and a vCPU
# thread that the host leaves unscheduled for the ~10 ms left of the count
# (a loaded machine: the suite beside other jobs) fails them, as QEMU's
# TCG or KVM would. Such a run gets one more try, only when the TMCCT
# checks are all that failed.
HOST_TIMED = {"x2apic", "xapic"}


def only_tmcct_failed(out):
    fails = [line for line in out.splitlines() if line.startswith("FAIL:")]
    return fails and all("TMCCT" in line for line in fails)


def load_runner():
    loader = importlib.machinery.SourceFileLoader("kvm_unit_tests", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def suite():
    runner = load_runner()
    tarball = runner.find_tarball()
    if tarball is None:
        pytest.skip("kvm-unit-tests not run: ../shared/peers/kvm-unit-tests.tar.gz is absent "
                    "(scripts/kvm-unit-tests --source TARBALL builds it from elsewhere)")
    why = engine_unavailable("emu")
    if why:
        pytest.skip(why)
    r = subprocess.run([str(SCRIPT), "--build-only", "--source", str(tarball)],
                       capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    src = ROOT / r.stdout.decode().strip()
    tests = {t["name"]: t for t in runner.parse_cfg(src / "x86" / "unittests.cfg")}
    return runner, src, tests


@pytest.mark.parametrize("name", PASSING)
def test_kvm_unit_test(suite, name):
    runner, src, tests = suite
    test = dict(tests[name])
    if name in TEST_ARGS:
        test["test_args"] = TEST_ARGS[name]
    if name in QEMU_PARAMS:
        test["qemu_params"] = QEMU_PARAMS[name]
    argv, _ = runner.plan(test, src / "x86" / test["file"])
    assert not isinstance(argv, str), f"{name} is skipped on vx86: {argv}"
    r = run_vx86(*argv, timeout=180)
    verdict, detail = runner.verdict(r.status, r.out, r.err)
    if verdict != "PASS" and name in HOST_TIMED and only_tmcct_failed(r.out):
        r = run_vx86(*argv, timeout=180)
        verdict, detail = runner.verdict(r.status, r.out, r.err)
    assert verdict == "PASS", f"{name}: {verdict} ({detail})\n{r!r}"

