"""Shared helpers for the integration tests: where vx86 and the guests are,
which engines this host can run, and one way to run vx86."""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VX86 = Path(os.environ.get("VX86", ROOT / "build" / "vx86"))
GUESTS = Path(os.environ.get("VX86_GUESTS", ROOT / "build" / "tests" / "guests"))
ENGINES = ("kvm", "emu")


class Result:
    def __init__(self, proc):
        self.status = proc.returncode
        self.out = proc.stdout.decode(errors="replace")
        self.err = proc.stderr.decode(errors="replace")

    def __repr__(self):
        return f"status {self.status}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def run_vx86(*args, timeout=60, stdin=subprocess.DEVNULL, cwd=None, env=None):
    proc = subprocess.run([str(VX86), *map(str, args)], stdin=stdin, capture_output=True,
                          timeout=timeout, cwd=cwd,
                          env=None if env is None else {**os.environ, **env})
    return Result(proc)


def guest(name):
    path = GUESTS / name
    assert path.exists(), f"{path} is not built"
    return path


_engine_cache = {}


def engine_unavailable(engine):
    """None if the engine can run guests here, else the reason it cannot."""
    if engine not in _engine_cache:
        r = run_vx86("run", "--engine", engine, "--kernel", guest("hello.elf"), timeout=60)
        if r.status == 1 and "PASS" in r.out:
            _engine_cache[engine] = None
        else:
            last = r.err.strip().splitlines()[-1] if r.err.strip() else f"status {r.status}"
            _engine_cache[engine] = f"{engine} engine unavailable here: {last}"
    return _engine_cache[engine]


_pvm = None


def kvm_is_pvm():
    """True where /dev/kvm is served by PVM, a software KVM (vx86 host says so)."""
    global _pvm
    if _pvm is None:
        r = run_vx86("host", "--json")
        _pvm = r.status == 0 and "PVM" in r.out
    return _pvm


@pytest.fixture(params=ENGINES)
def engine(request):
    why = engine_unavailable(request.param)
    if why:
        pytest.skip(why)
    return request.param


@pytest.fixture
def kvm():
    why = engine_unavailable("kvm")
    if why:
        pytest.skip(why)
    return "kvm"
