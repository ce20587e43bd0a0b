"""vx86 run --profile FILE[,map=PATH]: the emu engine's profile report
(docs/profiling.md). A test guest runs with it; the report must have every
section, plausible counts, and name the guest's functions from its ELF
symbol table."""
import re
import subprocess
import time

import pytest

from conftest import VX86, engine_unavailable, guest, run_vx86

SECTIONS = ["== totals", "== counters", "== boot phases", "== phases", "== top guest code"]
COUNTERS = ["blocks_built", "block_flushes", "jit_translations", "jit_helper_calls",
            "tlb_misses", "tlb_flushes", "tlb_page_flushes", "generic", "steps", "exceptions",
            "soft_ints", "interrupts", "pio", "mmio", "apic", "halts", "exits"]


@pytest.fixture(autouse=True)
def emu_only():
    why = engine_unavailable("emu")
    if why:
        pytest.skip(why)


def number(report, name):
    m = re.search(rf"^{name}\s+([\d,]+)", report, re.M)
    assert m, f"no {name} line in\n{report}"
    return int(m.group(1).replace(",", ""))


def top_lines(report):
    section = report.split("== top guest code", 1)[1].splitlines()[2:]
    return [line for line in section if re.match(r"\s*\d+\s+[\d.]+%", line)]


def test_report_has_every_section_and_plausible_counts(tmp_path):
    out = tmp_path / "profile.txt"
    r = run_vx86("run", "--engine", "emu", "--mem", "128M", "--kernel", guest("user.elf"),
                 "--profile", out)
    assert r.status == 1 and "PASS" in r.out, r
    report = out.read_text()
    for s in SECTIONS:
        assert s in report, report
    assert number(report, "instructions") > 10000, report
    assert number(report, "samples") > 0, report
    assert number(report, "passes") > 0, report
    for c in COUNTERS:
        number(report, c)
    # user.elf builds blocks, walks page tables, takes #GP/#PF/#UD on
    # purpose, does port I/O (the serial console) and runs INT 0x80.
    for c in ["blocks_built", "tlb_misses", "exceptions", "soft_ints", "pio"]:
        assert number(report, c) > 0, (c, report)
    assert re.search(r"exceptions by vector:.*#GP \d+", report), report
    # Without a map, kernel code is grouped by 4 KiB page.
    assert top_lines(report) and all("[page 0x" in line or "[" in line
                                     for line in top_lines(report)), report
    phases = report.split("== phases", 1)[1].split("==", 1)[0]
    assert re.search(r"^\s+0\s+[\d,]+\s", phases, re.M), report


def test_map_names_the_guest_functions(tmp_path):
    out = tmp_path / "profile.txt"
    elf = guest("pit_ioapic.elf")
    r = run_vx86("run", "--engine", "emu", "--mem", "128M", "--kernel", elf,
                 "--profile", f"{out},map={elf}")
    assert r.status == 1 and "PASS" in r.out, r
    report = out.read_text()
    assert re.search(r"^symbols\s+\d+ code symbols", report, re.M), report
    names = [line.split()[-1] for line in top_lines(report)]
    assert any(not n.startswith("[") for n in names), report


def test_boot_timer_is_a_milestone(tmp_path):
    """io.elf writes 123 to the boot timer (port 0x440 and MMIO)."""
    out = tmp_path / "profile.txt"
    r = run_vx86("run", "--engine", "emu", "--mem", "128M", "--kernel", guest("io.elf"),
                 "--profile", out)
    assert r.status == 1, r
    phases = out.read_text().split("== boot phases", 1)[1].split("==", 1)[0]
    rows = [line.split()[0] for line in phases.splitlines()[2:] if line.strip()]
    assert rows == ["start", "64-bit", "boot", "end"], phases


def test_report_written_after_a_triple_fault(tmp_path):
    out = tmp_path / "profile.txt"
    r = run_vx86("run", "--engine", "emu", "--kernel", guest("fail_triplefault.elf"),
                 "--profile", out)
    assert r.status == 4, r
    report = out.read_text()
    assert number(report, "instructions") > 0 and "== top guest code" in report, report


def test_report_written_on_sigterm(tmp_path):
    """echo.elf waits for console input; SIGTERM ends vx86 with status 0."""
    out = tmp_path / "profile.txt"
    p = subprocess.Popen([str(VX86), "run", "--engine", "emu", "--kernel", guest("echo.elf"),
                          "--profile", out], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    line = b""
    while b"echo: ready" not in line and time.monotonic() < deadline:
        line = p.stdout.readline()
        assert line, "vx86 ended early"
    time.sleep(0.1)  # a few samples of the guest waiting in HLT
    p.terminate()
    p.wait(timeout=30)
    assert p.returncode == 0
    report = out.read_text()
    assert number(report, "samples") > 0 and "== top guest code" in report, report
    p.stdin.close()
    p.stdout.close()
    p.stderr.close()


def test_kvm_engine_refuses_profile(tmp_path):
    out = tmp_path / "profile.txt"
    r = run_vx86("run", "--engine", "kvm", "--kernel", guest("hello.elf"), "--profile", out)
    assert r.status == 2, r
    assert "needs --engine emu" in r.err and len(r.err.strip().splitlines()) == 1, r
    assert not out.exists()


@pytest.mark.parametrize("arg,why", [
    ("{out},map={bad}", "no code symbols"),
    ("{out},map={missing}", "cannot read the symbol map"),
    ("{out},color=red", "unknown option"),
    (",map={bad}", "needs a file name"),
])
def test_bad_profile_arguments(tmp_path, arg, why):
    bad = tmp_path / "bad.map"
    bad.write_text("this is not\na symbol map\n")
    arg = arg.format(out=tmp_path / "p.txt", bad=bad, missing=tmp_path / "none")
    r = run_vx86("run", "--engine", "emu", "--kernel", guest("hello.elf"), "--profile", arg)
    assert r.status == 2, r
    assert why in r.err, r
