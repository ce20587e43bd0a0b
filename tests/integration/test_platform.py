"""The PC platform's power paths on every engine: the platform guest enters
ACPI S5 or resets through the FADT's reset register, and vx86 ends or boots
the guest again as --on-reboot says. (Its table and fw_cfg checks run with
the other guests in test_guests.py.)"""
import subprocess
import time

from conftest import VX86, guest, run_vx86


def test_tables_describe_every_vcpu(engine):
    r = run_vx86("run", "--engine", engine, "--mem", "128M", "--cpus", "4",
                 "--kernel", guest("platform.elf"))
    assert r.status == 1, r
    assert "MADT: 4 processors, fw_cfg: 4" in r.out, r
    assert "MP: 4 processors" in r.out, r
    assert "PASS" in r.out and "FAIL" not in r.out, r


def test_acpi_poweroff_ends_with_status_0(engine):
    r = run_vx86("run", "--engine", engine, "--mem", "128M", "--cmdline", "poweroff",
                 "--kernel", guest("platform.elf"))
    assert r.status == 0, r
    assert "S5: SLP_TYP 5 through PM1a_CNT 604" in r.out, r
    assert "FAIL" not in r.out, r
    assert r.err.strip().splitlines()[-1] == "vx86: guest powered off", r


def test_reset_register_ends_vx86_by_default(engine):
    for extra in ([], ["--on-reboot", "exit"]):
        r = run_vx86("run", "--engine", engine, "--mem", "128M", "--cmdline", "reset", *extra,
                     "--kernel", guest("platform.elf"))
        assert r.status == 0, r
        assert "reset: 6 to port cf9" in r.out, r
        assert "FAIL" not in r.out, r
        assert "vx86: guest requested a reset through port 0xcf9" in r.err, r


def test_on_reboot_restart_boots_the_guest_again(engine):
    """The guest resets on every boot: with restart, vx86 boots it again and
    again until told to stop."""
    proc = subprocess.Popen([str(VX86), "run", "--engine", engine, "--mem", "128M",
                             "--on-reboot", "restart", "--cmdline", "reset",
                             "--kernel", str(guest("platform.elf"))],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    boots = 0
    deadline = time.monotonic() + 60
    try:
        for line in proc.stdout:
            if line.startswith(b"platform guest"):
                boots += 1
            if boots == 3 or time.monotonic() > deadline:
                break
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert boots == 3
    assert proc.returncode == 0, err
    err = err.decode()
    assert err.count("vx86: guest requested a reset through port 0xcf9") >= 2, err
    assert "vx86: terminating on signal 15" in err, err


def test_on_reboot_rejects_other_values():
    r = run_vx86("run", "--on-reboot", "reboot", "--kernel", guest("platform.elf"))
    assert r.status == 2, r
    assert r.err == "vx86: --on-reboot reboot: restart or exit\n", r
