"""Debian's stock kernel and the busybox initramfs boot on the emu engine,
run a command and end vx86 by resetting. Slow (about two minutes here), so
scripts/test runs it once, against the optimised build, with VX86_LINUX set
to the folder scripts/fetch-kernel fills."""
import hashlib
import os
from pathlib import Path

import pytest

from conftest import ROOT, run_vx86

LINUX = os.environ.get("VX86_LINUX")

pytestmark = pytest.mark.skipif(not LINUX, reason="VX86_LINUX not set: the Linux boot runs "
                                "once per suite, against the optimised build")


def test_linux_runs_a_command_and_resets():
    kernel = Path(LINUX) / "vmlinuz"
    initrd = ROOT / ".cache" / "initramfs.cpio.gz"
    r = run_vx86("run", "--engine", "emu", "--mem", "512M", "--kernel", kernel,
                 "--initrd", initrd, "--cmdline",
                 'console=ttyS0 quiet vx86.run="uname -sr; grep -c ^processor /proc/cpuinfo;'
                 ' echo sum $(echo vx86 | md5sum)" vx86.end=reboot',
                 timeout=900)
    assert r.status == 0, r
    package = (Path(LINUX) / "version").read_text().split()[0]
    release = package.removeprefix("linux-image-")
    lines = r.out.replace("\r", "").split("\n")
    assert f"Linux {release}" in lines, r
    assert "1" in lines, r  # one CPU
    # The guest's MD5 of "vx86\n" matches the host's: integer code ran right.
    digest = hashlib.md5(b"vx86\n").hexdigest()
    assert f"sum {digest} -" in lines, r
    assert "vx86-initramfs: exit 0" in r.out, r
    assert "vx86: guest requested a reset through the i8042" in r.err, r
