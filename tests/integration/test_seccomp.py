"""Every thread of a running vx86 has its seccomp filter (one: its role's),
and none with --no-seccomp: what /proc/PID/task/*/status says while the
echo guest waits for input, with a disk and a vsock device so that a device
thread runs too (virtio-blk's; vsock is served by the main thread's event
loop). That the filters let every guest run is the rest of the
suite's business: they are on by default."""
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ENGINES, VX86, engine_unavailable, guest


def filters(pid):
    """{tid: (Seccomp mode, number of filters)} of every thread of pid."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = dict(line.split(":\t", 1) for line in
                      (task / "status").read_text().splitlines() if ":\t" in line)
        out[task.name] = (int(fields["Seccomp"]), int(fields.get("Seccomp_filters", "0")))
    return out


def running(tmp_path, engine, *extra):
    disk = tmp_path / "disk.raw"
    disk.write_bytes(bytes(1 << 20))
    return subprocess.Popen([str(VX86), "run", "--engine", engine, "--kernel",
                             str(guest("echo.elf")), "--disk", str(disk),
                             "--vsock", f"cid=3,uds={tmp_path / 'v.sock'}", *extra],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def settle(p, want):
    """The threads' filters once want(them) holds, or after 20 s."""
    deadline = time.monotonic() + 20
    while True:
        f = filters(p.pid)
        if want(f) or time.monotonic() > deadline:
            return f
        time.sleep(0.05)


def finish(p):
    out, err = p.communicate(b"q", timeout=30)
    return p.returncode, err.decode(errors="replace")


@pytest.mark.parametrize("engine", ENGINES)
def test_every_thread_has_its_filter(tmp_path, engine):
    if engine_unavailable(engine):
        pytest.skip(engine_unavailable(engine))
    p = running(tmp_path, engine)
    try:
        # main, a vCPU and virtio-blk's I/O thread at least.
        f = settle(p, lambda f: len(f) >= 3 and all(v == (2, 1) for v in f.values()))
    finally:
        status, err = finish(p)
    assert len(f) >= 3 and all(v == (2, 1) for v in f.values()), (f, err)
    assert "seccomp" not in err, err


@pytest.mark.parametrize("engine", ENGINES)
def test_no_seccomp_leaves_threads_unfiltered(tmp_path, engine):
    if engine_unavailable(engine):
        pytest.skip(engine_unavailable(engine))
    p = running(tmp_path, engine, "--no-seccomp")
    try:
        f = settle(p, lambda f: len(f) >= 3)
        time.sleep(0.2)
        f = filters(p.pid)
    finally:
        finish(p)
    assert len(f) >= 3 and all(v == (0, 0) for v in f.values()), f
