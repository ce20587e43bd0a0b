"""Rate limiters (docs/api.md): Firecracker's RateLimiter on drives and NICs
through the API and the config file, their errors, and a Linux guest whose
reads of a limited drive, and whose traffic both ways on a limited NIC (a
TAP interface in a network namespace, root only), take the time the limit
says, before and after PATCH changes it. Timed assertions bound the time from below
tightly (a limiter must never let more through) and from above loosely (a
loaded 2-core host may be slow)."""
import json
import os
import queue
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT, VX86, run_vx86
from test_api import AFTER_START, Vx86, curl, fault
from test_net import can_use_netns, http_server, wait_listening

MIB = 1 << 20
BEFORE_START = "The requested operation is not supported before starting the microVM."


def drive(rate_limiter, **extra):
    return {"drive_id": "d", "path_on_host": "/dev/null", "is_root_device": False,
            "rate_limiter": rate_limiter, **extra}


def nic(**limiters):
    return {"iface_id": "eth0", "host_dev_name": "tap0", **limiters}


@pytest.fixture
def vx86(tmp_path):
    v = Vx86(tmp_path, "auto")
    yield v
    v.stop()


def test_rate_limiters_are_configured_and_shown(vx86, tmp_path):
    s = vx86.sock
    img = tmp_path / "d.img"
    img.write_bytes(bytes(MIB))
    bw = {"size": 1048576, "refill_time": 500}
    ops = {"size": 100, "one_time_burst": 20, "refill_time": 1000}
    assert curl(s, "PUT", "/drives/d", {"drive_id": "d", "path_on_host": str(img),
                                        "is_root_device": False,
                                        "rate_limiter": {"bandwidth": bw, "ops": ops}}) \
        == (204, None)
    assert curl(s, "PUT", "/network-interfaces/eth0",
                nic(rx_rate_limiter={"ops": ops}, tx_rate_limiter=None)) == (204, None)
    config = curl(s, "GET", "/vm/config")[1]
    assert config["drives"][0]["rate_limiter"] == {
        "bandwidth": {**bw, "one_time_burst": 0}, "ops": ops}
    assert config["network-interfaces"][0]["rx_rate_limiter"] == {"ops": ops}
    assert "tx_rate_limiter" not in config["network-interfaces"][0]
    # A bucket of size 0 or refill_time 0 limits nothing (Firecracker's
    # TokenBucket::new gives none); an empty RateLimiter neither.
    assert curl(s, "PUT", "/drives/d", {"drive_id": "d", "path_on_host": str(img),
                                        "is_root_device": False,
                                        "rate_limiter": {"bandwidth": {"size": 0,
                                                                       "refill_time": 9},
                                                         "ops": {"size": 9,
                                                                 "refill_time": 0}}}) \
        == (204, None)
    assert "rate_limiter" not in curl(s, "GET", "/vm/config")[1]["drives"][0]
    # PATCH is for a running guest, after the body is checked.
    assert fault(s, "PATCH", "/drives/d", {"drive_id": "d", "rate_limiter": {"ops": ops}}) \
        == BEFORE_START
    assert fault(s, "PATCH", "/network-interfaces/eth0",
                 {"iface_id": "eth0", "tx_rate_limiter": {"ops": ops}}) == BEFORE_START
    assert "missing field `size`" in fault(s, "PATCH", "/drives/d", {
        "drive_id": "d", "rate_limiter": {"ops": {"refill_time": 1}}})
    assert "unknown field `mtu`" in fault(s, "PATCH", "/network-interfaces/eth0",
                                          {"iface_id": "eth0", "mtu": 1500})
    assert "does not match" in fault(s, "PATCH", "/network-interfaces/eth0",
                                     {"iface_id": "eth1"})


@pytest.mark.parametrize("limiter, words", [
    ({"bandwidth": {"size": -1, "refill_time": 100}}, "rate_limiter.bandwidth: invalid type "
                                                      "for `size`"),
    ({"bandwidth": {"size": 2 ** 64, "refill_time": 100}}, "expected an unsigned integer"),
    ({"bandwidth": {"size": 2 ** 63, "refill_time": 100}}, "expected an unsigned integer"),
    ({"ops": {"size": 1.5, "refill_time": 100}}, "rate_limiter.ops: invalid type for `size`"),
    ({"ops": {"size": "10", "refill_time": 100}}, "a string, expected an unsigned integer"),
    ({"ops": {"size": 10, "refill_time": 100, "one_time_burst": True}},
     "invalid type for `one_time_burst`"),
    ({"ops": {"size": 10}}, "rate_limiter.ops: missing field `refill_time`"),
    ({"ops": {"size": 10, "refill_time": 1, "burst": 1}}, "unknown field `burst`"),
    ({"iops": {"size": 10, "refill_time": 1}}, "rate_limiter: unknown field `iops`"),
    ({"ops": []}, "invalid type for `ops`: an array"),
    ([], "invalid type for `rate_limiter`: an array"),
    (5, "invalid type for `rate_limiter`: a number, expected an object"),
])
def test_bad_rate_limiters_get_400(vx86, limiter, words):
    assert words in fault(vx86.sock, "PUT", "/drives/d", drive(limiter))
    msg = fault(vx86.sock, "PUT", "/network-interfaces/eth0", nic(tx_rate_limiter=limiter))
    assert "tx_rate_limiter" in msg and words.split(": ")[-1] in msg, msg
    assert curl(vx86.sock, "GET", "/vm/config")[1]["drives"] == []


def test_config_file_rate_limiters(tmp_path):
    config = tmp_path / "vm.json"
    config.write_text(json.dumps({
        "boot-source": {"kernel_image_path": "/k"},
        "drives": [drive({"ops": {"size": 10, "refill_time": -5}})]}))
    r = run_vx86("--config-file", config, "--no-api")
    assert r.status == 2 and "drives: rate_limiter.ops: invalid type for `refill_time`" in r.err, r
    config.write_text(json.dumps({
        "boot-source": {"kernel_image_path": "/k"},
        "network-interfaces": [nic(rx_rate_limiter={"bandwidth": {"size": 1}})]}))
    r = run_vx86("--config-file", config, "--no-api")
    assert r.status == 2 and "network-interfaces: rx_rate_limiter.bandwidth: missing field " \
        "`refill_time`" in r.err, r


class Lines:
    """The guest's console lines as they come."""

    def __init__(self, stream):
        self.q = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for raw in stream:
            self.q.put(raw.decode(errors="replace").rstrip("\r\n"))
        self.q.put(None)

    def wait_for(self, text, timeout=300):
        """The first line holding text."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.q.get(timeout=max(deadline - time.monotonic(), 0.1))
            assert line is not None, f"the console ended before {text!r}:\n" + \
                "\n".join(self.seen)
            self.seen.append(line)
            if text in line:
                return line


@pytest.mark.skipif(not os.environ.get("VX86_LINUX"),
                    reason="VX86_LINUX not set: the Linux boots run once per suite")
def test_linux_reads_at_the_drives_rate(tmp_path):
    # vda limited to 2 MiB/s (1 MiB per 500 ms, starting full): 8 MiB of
    # O_DIRECT reads take at least 3.5 s. PATCH then turns bandwidth off
    # and limits ops to 20/s (starting full): 80 reads of 64 KiB take at
    # least 3 s. A last PATCH lifts every limit. The guest waits for a line
    # on its console before each read, so that each PATCH is in place.
    linux = os.environ["VX86_LINUX"]
    disk = tmp_path / "data.img"
    disk.write_bytes(bytes(8 * MIB))
    metrics = tmp_path / "metrics.json"
    metrics.write_text("")
    rounds = ["dd if=/dev/vda of=/dev/null bs=1M count=8 iflag=direct",
              "dd if=/dev/vda of=/dev/null bs=64k count=80 iflag=direct",
              "dd if=/dev/vda of=/dev/null bs=1M count=8 iflag=direct"]
    # Each round's time by the guest's clock (the host's, through kvmclock),
    # so that a host slow to read the console cannot shorten it.
    up = "$(cut -d' ' -f1 /proc/uptime)"
    cmd = "; ".join(f"echo rl-ready-{i}; read x; echo rl-go-{i} {up}; {r} 2>/dev/null;"
                    f" echo rl-done-{i} {up}" for i, r in enumerate(rounds))
    v = Vx86(tmp_path, "emu")
    try:
        s = v.sock
        lines = Lines(v.p.stdout)
        assert curl(s, "PUT", "/metrics", {"metrics_path": str(metrics)}) == (204, None)
        assert curl(s, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 256}) \
            == (204, None)
        assert curl(s, "PUT", "/boot-source", {
            "kernel_image_path": os.path.join(linux, "vmlinuz"),
            "initrd_path": str(ROOT / ".cache" / "initramfs.cpio.gz"),
            "boot_args": f'console=ttyS0 quiet vx86.run="{cmd}" vx86.end=poweroff'}) \
            == (204, None)
        assert curl(s, "PUT", "/drives/data", {
            "drive_id": "data", "path_on_host": str(disk), "is_root_device": False,
            "rate_limiter": {"bandwidth": {"size": MIB, "refill_time": 500}}}) == (204, None)
        assert curl(s, "PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)

        def read_round(i):
            lines.wait_for(f"rl-ready-{i}")
            time.sleep(1)  # the buckets refill from what the boot took
            v.p.stdin.write(b"\n")
            v.p.stdin.flush()
            start = float(lines.wait_for(f"rl-go-{i}", timeout=60).split()[-1])
            return float(lines.wait_for(f"rl-done-{i}", timeout=120).split()[-1]) - start

        bandwidth = read_round(0)
        assert curl(s, "PUT", "/actions", {"action_type": "FlushMetrics"}) == (204, None)
        assert curl(s, "PATCH", "/drives/data", {
            "drive_id": "data", "rate_limiter": {"bandwidth": {"size": 0, "refill_time": 0},
                                                 "ops": {"size": 20, "refill_time": 1000}}}) \
            == (204, None)
        assert curl(s, "GET", "/vm/config")[1]["drives"][0]["rate_limiter"] == {
            "ops": {"size": 20, "one_time_burst": 0, "refill_time": 1000}}
        assert fault(s, "PUT", "/drives/data", {"drive_id": "data", "path_on_host": str(disk),
                                                "is_root_device": False}) == AFTER_START
        ops = read_round(1)
        assert curl(s, "PATCH", "/drives/data", {
            "drive_id": "data", "rate_limiter": {"ops": {"size": 0, "refill_time": 0}}}) \
            == (204, None)
        unlimited = read_round(2)
        assert v.p.wait(timeout=120) == 0
    finally:
        v.stop()
    print(f"8 MiB at 2 MiB/s: {bandwidth:.2f} s; 80 ops at 20/s: {ops:.2f} s; "
          f"8 MiB unlimited: {unlimited:.2f} s")
    assert 3.4 <= bandwidth < 60, bandwidth
    assert 2.9 <= ops < 60, ops
    assert unlimited < bandwidth - 1.5, (unlimited, bandwidth)
    first = json.loads(metrics.read_text().splitlines()[0])
    assert first["block"]["rate_limiter_throttled_events"] > 0, first
    # Round 0's 8 MiB (and the kernel's look at the partition table), none
    # written; no NIC.
    assert 8 * MIB <= first["block"]["read_bytes"] < 9 * MIB, first
    assert first["block"]["read_count"] >= 8, first
    assert first["block"]["write_bytes"] == first["block"]["write_count"] == 0, first
    assert first["net"] == {"rx_packets_count": 0, "rx_bytes_count": 0, "tx_packets_count": 0,
                            "tx_bytes_count": 0, "rx_rate_limiter_throttled": 0,
                            "tx_rate_limiter_throttled": 0}, first


class NsVx86(Vx86):
    """Vx86 run with a command prefix (a network namespace)."""

    def __init__(self, tmp_path, prefix):
        self.sock = tmp_path / "api.sock"
        self.p = subprocess.Popen([*prefix, str(VX86), "--api-sock", str(self.sock), "--engine",
                                   "emu"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while not self.sock.exists() or curl(self.sock, "GET", "/")[0] != 200:
            assert self.p.poll() is None, self.p.communicate()
            assert time.monotonic() < deadline, "the API socket never answered"
            time.sleep(0.05)


@pytest.mark.skipif(not os.environ.get("VX86_LINUX"),
                    reason="VX86_LINUX not set: the Linux boots run once per suite")
def test_linux_nic_at_its_rates(tmp_path):
    # A NIC on a TAP interface in a network namespace of its own, receive
    # limited to 1 MiB/s (512 KiB per 500 ms, starting full): the guest's
    # wget of 3 MiB from the host takes at least 2.5 s by its clock. PATCH
    # then lifts that and limits transmit the same way: the host's fetch of
    # 3 MiB from the guest's httpd takes at least 2.5 s by the host's. A
    # last PATCH lifts every limit and the same fetch is quick.
    why = can_use_netns()
    if why:
        pytest.skip(why)
    linux = os.environ["VX86_LINUX"]
    ns = f"vx86rl{os.getpid()}"
    inns = ("ip", "netns", "exec", ns)
    r = subprocess.run(["ip", "netns", "add", ns], capture_output=True)
    if r.returncode:
        pytest.skip(f"ip netns add: {r.stderr.decode().strip()}")
    limit = {"bandwidth": {"size": 512 * 1024, "refill_time": 500}}
    off = {"bandwidth": {"size": 0, "refill_time": 0}}
    up = "$(cut -d' ' -f1 /proc/uptime)"
    cmd = ("ip addr add 10.0.3.2/24 dev eth0; mkdir /www;"
           " dd if=/dev/urandom of=/www/blob bs=1k count=3072 2>/dev/null; httpd -p 80 -h /www;"
           f" echo rl-ready; read x; echo rl-go {up};"
           f" wget -q -O /dev/null http://10.0.3.1:8000/blob; echo rl-done {up} $?; read x")
    server = v = None
    try:
        for c in (["tuntap", "add", "vx86tap0", "mode", "tap"],
                  ["addr", "add", "10.0.3.1/24", "dev", "vx86tap0"],
                  ["link", "set", "vx86tap0", "up"], ["link", "set", "lo", "up"]):
            subprocess.run(["ip", "-n", ns, *c], check=True)
        (tmp_path / "blob").write_bytes(os.urandom(3 * MIB))
        server = http_server(tmp_path, "10.0.3.1", 8000, inns)
        wait_listening("10.0.3.1", 8000, inns)
        v = NsVx86(tmp_path, inns)
        s = v.sock
        lines = Lines(v.p.stdout)
        assert curl(s, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 256}) \
            == (204, None)
        assert curl(s, "PUT", "/boot-source", {
            "kernel_image_path": os.path.join(linux, "vmlinuz"),
            "initrd_path": str(ROOT / ".cache" / "initramfs.cpio.gz"),
            "boot_args": f'console=ttyS0 quiet vx86.run="{cmd}" vx86.end=poweroff'}) \
            == (204, None)
        assert curl(s, "PUT", "/network-interfaces/eth0", {
            "iface_id": "eth0", "host_dev_name": "vx86tap0", "rx_rate_limiter": limit}) \
            == (204, None)
        assert curl(s, "PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
        lines.wait_for("rl-ready")
        time.sleep(1)  # the bucket refills from what the boot took
        v.p.stdin.write(b"\n")
        v.p.stdin.flush()
        start = float(lines.wait_for("rl-go", timeout=60).split()[-1])
        done = lines.wait_for("rl-done", timeout=120).split()
        received = float(done[1]) - start
        assert done[2] == "0", lines.seen

        def fetch():
            t0 = time.monotonic()
            r = subprocess.run([*inns, sys.executable, "-c",
                                "import urllib.request;print(len(urllib.request.urlopen("
                                "'http://10.0.3.2/blob',timeout=60).read()))"],
                               capture_output=True, text=True, timeout=120)
            assert r.stdout.strip() == str(3 * MIB), r
            return time.monotonic() - t0

        assert curl(s, "PATCH", "/network-interfaces/eth0", {
            "iface_id": "eth0", "rx_rate_limiter": off, "tx_rate_limiter": limit}) == (204, None)
        nets = curl(s, "GET", "/vm/config")[1]["network-interfaces"]
        assert "rx_rate_limiter" not in nets[0] and nets[0]["tx_rate_limiter"] == {
            "bandwidth": {**limit["bandwidth"], "one_time_burst": 0}}, nets
        time.sleep(0.5)
        sent = fetch()
        assert curl(s, "PATCH", "/network-interfaces/eth0", {
            "iface_id": "eth0", "tx_rate_limiter": off}) == (204, None)
        unlimited = fetch()
        v.p.stdin.write(b"\n")
        v.p.stdin.flush()
        assert v.p.wait(timeout=120) == 0
    finally:
        if v:
            v.stop()
        if server:
            server.kill()
            server.wait()
        subprocess.run(["ip", "netns", "del", ns])
    print(f"3 MiB in at 1 MiB/s: {received:.2f} s; out at 1 MiB/s: {sent:.2f} s; "
          f"out unlimited: {unlimited:.2f} s")
    assert 2.4 <= received < 60, received
    assert 2.4 <= sent < 60, sent
    assert unlimited < sent - 1, (unlimited, sent)
