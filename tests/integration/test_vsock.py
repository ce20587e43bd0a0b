"""virtio-vsock (--vsock) with Debian's kernel on the emu engine, one Linux
boot per transport. The guest runs tests/vsock/vsock-guest.c (built static
here, added to a test initramfs): an echo server on port 1234 and clients
to the host. The host's end is Python and socat on the Unix sockets of
Firecracker's hybrid vsock: 1 MiB each way checked byte for byte, several
connections at once, and refused connections both ways. Gated on
VX86_LINUX as test_linux_boot.py."""
import hashlib
import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import ROOT, VX86
from console_guest import ConsoleGuest

LINUX = os.environ.get("VX86_LINUX")

linux = pytest.mark.skipif(not LINUX, reason="VX86_LINUX not set: the Linux boots run "
                           "once per suite, against the optimised build")

MIB = 1 << 20
ECHO_PORT = 1234  # the guest's echo server
H_ECHO = 52       # socat's echo server at UDS_52, for the guest's clients
H_NONE = 53       # nothing listens at UDS_53
H_SHUT = 54       # socat at UDS_54 closes each connection at once
H_DONE = 99       # the guest waits on it until the host is done

# The guest: its echo server, then three clients at once to the host's echo
# server, each sending the same 1 MiB, and with them five to a host server
# that hangs up (they must end, not wait for credit forever), a refused
# connection, READY, and a wait until the host closes port H_DONE.
GUEST = (f"vsock-guest listen {ECHO_PORT} & sleep 0.3;"
         f" head -c {MIB} /dev/urandom >/tmp/x;"
         " p=; for i in 1 2 3; do"
         f" vsock-guest connect 2 {H_ECHO} </tmp/x >/tmp/y$i & p=$p' '$!; done;"
         " for i in 1 2 3 4 5; do"
         f" vsock-guest connect 2 {H_SHUT} </tmp/x >/dev/null 2>&1 & p=$p' '$!; done; wait $p;"
         " echo sums $(md5sum </tmp/x) $(md5sum </tmp/y1) $(md5sum </tmp/y2)"
         " $(md5sum </tmp/y3);"
         f" vsock-guest connect 2 {H_NONE} </dev/null; echo refused $?;"
         f" echo READY; vsock-guest connect 2 {H_DONE} </dev/null")


@pytest.fixture(scope="module")
def initramfs(tmp_path_factory):
    if not shutil.which("gcc"):
        pytest.skip("no gcc to build tests/vsock/vsock-guest.c")
    if not shutil.which("socat"):
        pytest.skip("no socat (scripts/setup-deps installs it)")
    d = tmp_path_factory.mktemp("vsock")
    subprocess.run(["gcc", "-static", "-O2", "-o", d / "vsock-guest",
                    ROOT / "tests/vsock/vsock-guest.c"], check=True)
    subprocess.run([ROOT / "scripts/build-initramfs", "-o", d / "initramfs.cpio.gz", "--add",
                    f"{d / 'vsock-guest'}:bin/vsock-guest"], check=True, stdout=subprocess.DEVNULL)
    return d / "initramfs.cpio.gz"


class Guest(ConsoleGuest):
    """vx86 booting the default kernel with --vsock and cmd as vx86.run, its
    console read line by line on a thread."""

    def __init__(self, initrd, uds, transport):
        cmdline = f'console=ttyS0 quiet vx86.run="{GUEST}"'
        args = [str(VX86), "run", "--engine", "emu", "--mem", "512M", "--kernel",
                str(Path(LINUX) / "vmlinuz"), "--initrd", str(initrd), "--transport", transport,
                "--vsock", f"cid=42,uds={uds}", "--cmdline", cmdline]
        super().__init__(args)


def host_connect(uds, port):
    """A client of vx86's Unix socket: CONNECT port. Returns the socket and
    vx86's answer line (b"" if it closed the socket)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(str(uds))
    s.sendall(b"CONNECT %d\n" % port)
    line = b""
    while not line.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            break
        line += b
    return s, line


def echo(s, data):
    """Sends data on s (then shuts its sending side) while reading the
    answer until EOF; returns the answer."""
    def send():
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=send)
    t.start()
    got = bytearray()
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += b
    t.join()
    s.close()
    return bytes(got)


@linux
@pytest.mark.parametrize("transport", ["mmio", "pci"])
def test_vsock(tmp_path, initramfs, transport):
    uds = tmp_path / "v.sock"
    socat = subprocess.Popen(["socat", "-t", "60", f"UNIX-LISTEN:{uds}_{H_ECHO},fork",
                              "EXEC:cat"], stderr=subprocess.DEVNULL)
    shut = subprocess.Popen(["socat", f"UNIX-LISTEN:{uds}_{H_SHUT},fork", "SYSTEM:exit 0"],
                            stderr=subprocess.DEVNULL)
    done = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    done.bind(f"{uds}_{H_DONE}")
    done.listen(1)
    try:
        for _ in range(100):
            if os.path.exists(f"{uds}_{H_ECHO}") and os.path.exists(f"{uds}_{H_SHUT}"):
                break
            threading.Event().wait(0.05)
        g = Guest(initramfs, uds, transport)
        try:
            assert g.wait_for("READY"), g
            # Host to guest: one connection, 1 MiB both ways.
            s, ok = host_connect(uds, ECHO_PORT)
            assert ok.startswith(b"OK ") and int(ok[3:]) > 0, (ok, g)
            data = os.urandom(MIB)
            got = echo(s, data)
            assert len(got) == MIB and got == data, g
            # Four at once, each its own data, each its own host port.
            conns = [host_connect(uds, ECHO_PORT) for _ in range(4)]
            ports = {ok for _, ok in conns}
            blobs = [os.urandom(256 << 10) for _ in conns]
            results = [None] * len(conns)

            def run(i):
                results[i] = echo(conns[i][0], blobs[i])

            threads = [threading.Thread(target=run, args=(i,)) for i in range(len(conns))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            assert len(ports) == 4 and all(ok.startswith(b"OK ") for ok in ports), (ports, g)
            assert results == blobs, g
            # socat as a host client, as Firecracker's documentation does.
            r = subprocess.run(["socat", "-t", "10", "-", f"UNIX-CONNECT:{uds}"],
                               input=b"CONNECT %d\nhello vsock\n" % ECHO_PORT,
                               capture_output=True, timeout=60)
            lines = r.stdout.split(b"\n")
            assert lines[0].startswith(b"OK ") and lines[1] == b"hello vsock", (r, g)
            # Nothing listens on the guest's port 999: vx86 closes the socket.
            s, ok = host_connect(uds, 999)
            assert ok == b"", (ok, g)
            s.close()
            # A line that is not CONNECT: closed as well.
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(30)
            s.connect(str(uds))
            s.sendall(b"HELLO\n")
            assert s.recv(16) == b"", g
            s.close()
            c, _ = done.accept()
            c.close()
        finally:
            status = g.finish()
    finally:
        for p in (socat, shut):
            p.kill()
            p.wait()
        done.close()
    assert status == 0, g
    sums = g.value("sums")
    assert sums and len(sums) == 8 and sums[0] == sums[2] == sums[4] == sums[6], g
    assert g.value("refused") == ["1"], g
    assert "vsock-guest: connect: Connection reset by peer" in g.lines, g
    assert "vx86-initramfs: exit 0" in g.lines, g
    assert not uds.exists(), "vx86 left its Unix socket behind"


def test_vsock_bad_values():
    for arg, why in [("cid=2,uds=/tmp/x", "--vsock cid=2: expected a guest CID from 3"),
                     ("cid=4294967295,uds=/tmp/x", "--vsock cid=4294967295: expected"),
                     ("cid=3", "--vsock: needs both cid=N and uds=PATH"),
                     ("cid=3,uds=/tmp/x,port=1", "--vsock port=1: unknown option"),
                     ("cid=3,uds=/" + "x" * 100, "longer than 96 bytes")]:
        r = subprocess.run([str(VX86), "run", "--kernel", "/dev/null", "--vsock", arg],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, (arg, r.stderr)
        assert why in r.stderr and r.stderr.count("\n") == 1, (arg, r.stderr)
