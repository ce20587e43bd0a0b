"""virtio-net with Debian's kernel on the emu engine, one Linux boot per
backend: --net tap in a network namespace of its own (root only), and
--net user (libslirp), the latter over both virtio transports. Each test moves a few MiB both ways and compares MD5
sums computed on both ends. Gated on VX86_LINUX as test_linux_boot.py."""
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, VX86
from console_guest import ConsoleGuest

LINUX = os.environ.get("VX86_LINUX")

pytestmark = pytest.mark.skipif(not LINUX, reason="VX86_LINUX not set: the Linux boots run "
                                "once per suite, against the optimised build")

BLOB = 3 << 20  # bytes each way
# iputils-ping where installed, else busybox's (scripts/setup-deps installs it).
PING = ["ping"] if shutil.which("ping") else ["busybox", "ping"]

# The guest, after its address is set: fetch the host's file, serve one of
# its own with busybox httpd, say READY, and wait for the host to connect to
# port 81 once it is done with the guest (or 120 s).
GUEST_SERVE = ("mkdir /www; dd if=/dev/urandom of=/www/blob bs=1k count=%d 2>/dev/null;"
               " echo served $(md5sum </www/blob); httpd -p 80 -h /www; echo READY;"
               " timeout 120 nc -l -p 81 </dev/null >/dev/null" % (BLOB >> 10))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def blob(tmp_path):
    data = os.urandom(BLOB)
    (tmp_path / "blob").write_bytes(data)
    return hashlib.md5(data).hexdigest()


class Guest(ConsoleGuest):
    """vx86 booting the default kernel with cmd as vx86.run, its console
    read line by line on a thread."""

    def __init__(self, net, cmd, prefix=(), transport="mmio"):
        cmdline = f'console=ttyS0 quiet vx86.run="{cmd}"'
        args = [*prefix, str(VX86), "run", "--engine", "emu", "--mem", "512M", "--kernel",
                str(Path(LINUX) / "vmlinuz"), "--initrd", str(ROOT / ".cache/initramfs.cpio.gz"),
                "--net", net, "--transport", transport, "--cmdline", cmdline]
        super().__init__(args)


def http_server(directory, host, port, prefix=()):
    return subprocess.Popen([*prefix, sys.executable, "-m", "http.server", str(port), "--bind",
                             host, "--directory", str(directory)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_listening(host, port, prefix=()):
    code = ("import socket,time\nfor i in range(100):\n try:\n"
            f"  socket.create_connection(({host!r},{port}),1).close(); break\n"
            " except OSError: time.sleep(0.1)\n")
    subprocess.run([*prefix, sys.executable, "-c", code], check=True, timeout=30)


@pytest.mark.parametrize("transport", ["mmio", "pci"])
def test_net_user(tmp_path, transport):
    digest = blob(tmp_path)
    port, fwd_http, fwd_done = free_port(), free_port(), free_port()
    server = http_server(tmp_path, "127.0.0.1", port)
    try:
        wait_listening("127.0.0.1", port)
        # DHCP offers no host name unless asked (hostname=, on pci here):
        # A udhcpc script that runs env shows the lease's options.
        name = ",hostname=guest-1" if transport == "pci" else ""
        g = Guest(f"user,hostfwd=tcp::{fwd_http}-:80,hostfwd=tcp:127.0.0.1:{fwd_done}-:81{name}",
                  "udhcpc -i eth0 -n -q -t 5 -T 1 >/dev/null 2>&1;"
                  " echo addr $(ip -4 -o addr show eth0 | awk '{print $4}');"
                  " printf '#!/bin/sh\\nenv\\n' >/tmp/env.sh; chmod +x /tmp/env.sh;"
                  " echo dhcp-hostname $(udhcpc -i eth0 -n -q -t 5 -T 1 -s /tmp/env.sh 2>/dev/null"
                  " | grep ^hostname=);"
                  f" echo fetched $(wget -q -O - http://10.0.2.2:{port}/blob | md5sum);"
                  # 4,000 bytes of ICMP: fragments, which vx86 puts together
                  # for libslirp, whose reply Linux puts together.
                  " echo bigping $(ping -c 1 -W 5 -s 4000 10.0.2.2 | grep -o '[0-9]* packets received');"
                  " echo nic $(basename $(readlink /sys/class/net/eth0/device/../driver));"
                  + GUEST_SERVE, transport=transport)
        try:
            assert g.wait_for("READY"), g
            with urllib.request.urlopen(f"http://127.0.0.1:{fwd_http}/blob", timeout=60) as r:
                got = hashlib.md5(r.read()).hexdigest()
            socket.create_connection(("127.0.0.1", fwd_done), 10).close()
        finally:
            status = g.finish()
    finally:
        server.kill()
        server.wait()
    assert status == 0, g
    assert g.value("addr") == ["10.0.2.15/24"], g
    assert (g.value("dhcp-hostname") or []) == (["hostname=guest-1"] if name else []), g
    assert g.value("fetched") == [digest, "-"], g
    assert g.value("bigping") == ["1", "packets", "received"], g
    assert g.value("served") == [got, "-"], g
    assert g.value("nic") == ["virtio-pci" if transport == "pci" else "virtio-mmio"], g
    assert "vx86-initramfs: exit 0" in g.lines, g


def can_use_netns():
    if os.geteuid() != 0:
        return "not root: creating a network namespace and a TAP interface needs it"
    if not shutil.which("ip"):
        return "no ip command (iproute2)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    return None


def test_net_tap(tmp_path):
    why = can_use_netns()
    if why:
        pytest.skip(why)
    ns = f"vx86test{os.getpid()}"
    inns = ("ip", "netns", "exec", ns)
    r = subprocess.run(["ip", "netns", "add", ns], capture_output=True)
    if r.returncode:
        pytest.skip(f"ip netns add: {r.stderr.decode().strip()}")
    server = None
    try:
        for cmd in (["tuntap", "add", "vx86tap0", "mode", "tap"],
                    ["addr", "add", "10.0.3.1/24", "dev", "vx86tap0"],
                    ["link", "set", "vx86tap0", "up"], ["link", "set", "lo", "up"]):
            subprocess.run(["ip", "-n", ns, *cmd], check=True)
        digest = blob(tmp_path)
        server = http_server(tmp_path, "10.0.3.1", 8000, inns)
        wait_listening("10.0.3.1", 8000, inns)
        g = Guest("tap=vx86tap0,mac=52:54:00:00:03:02",
                  "ip addr add 10.0.3.2/24 dev eth0;"
                  " echo ping $(ping -c 3 -W 5 10.0.3.1 | grep -o '[0-9]* packets received');"
                  " echo fetched $(wget -q -O - http://10.0.3.1:8000/blob | md5sum);"
                  + GUEST_SERVE, prefix=inns)
        try:
            assert g.wait_for("READY"), g
            ping = subprocess.run([*inns, *PING, "-c", "3", "-W", "5", "10.0.3.2"],
                                  capture_output=True, text=True, timeout=60)
            fetch = subprocess.run([*inns, sys.executable, "-c",
                                    "import hashlib,urllib.request;print(hashlib.md5(urllib."
                                    "request.urlopen('http://10.0.3.2/blob',timeout=60).read())"
                                    ".hexdigest())"], capture_output=True, text=True, timeout=120)
            mac = subprocess.run(["ip", "-n", ns, "neigh", "show", "10.0.3.2"],
                                 capture_output=True, text=True).stdout
            subprocess.run([*inns, sys.executable, "-c", "import socket;socket.create_connection"
                            "(('10.0.3.2',81),10).close()"], timeout=30)
        finally:
            status = g.finish()
    finally:
        if server:
            server.kill()
            server.wait()
        subprocess.run(["ip", "netns", "del", ns])
    assert status == 0, g
    assert g.value("ping") == ["3", "packets", "received"], g
    assert ping.returncode == 0 and " 0% packet loss" in ping.stdout, ping.stdout
    assert "52:54:00:00:03:02" in mac, mac
    assert g.value("fetched") == [digest, "-"], g
    assert g.value("served") == [fetch.stdout.strip(), "-"], (g, fetch.stderr)
    assert "vx86-initramfs: exit 0" in g.lines, g
