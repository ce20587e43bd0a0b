"""The Firecracker-compatible API (docs/api.md): firecracker-go-sdk's
sequence of calls boots a guest, every answer's status and body is what
Firecracker gives, bad requests get 400 (or the HTTP error) with a
fault_message, several clients are served at once, --config-file starts the
guest at once, and vx86 --version reads as Firecracker's for Kata."""
import json
import os
import re
import select
import socket
import subprocess
import time

import pytest

from conftest import ROOT, VX86, guest, run_vx86
from test_console import read_until

AFTER_START = "The requested operation is not supported after starting the microVM."


def curl(sock, method, path, body=None):
    """One request with curl --unix-socket: (status, parsed JSON body or None)."""
    args = ["curl", "-sS", "--unix-socket", str(sock), "-X", method, "-w", "\n%{http_code}",
            f"http://localhost{path}"]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary",
                 body if isinstance(body, str) else json.dumps(body)]
    r = subprocess.run(args, capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr
    text, _, code = r.stdout.decode().rpartition("\n")
    return int(code), json.loads(text) if text else None


def fault(sock, method, path, body=None):
    status, answer = curl(sock, method, path, body)
    assert status == 400, (status, answer)
    assert list(answer) == ["fault_message"], answer
    return answer["fault_message"]


def raw(sock, data, timeout=10):
    """Sends data on a fresh connection, reads until the server closes it."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(str(sock))
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def status_of(response):
    return int(response.split(b" ", 2)[1])


class Vx86:
    """vx86 serving the API on sock, the guest's console on pipes."""

    def __init__(self, tmp_path, engine, *args):
        self.sock = tmp_path / "api.sock"
        self.p = subprocess.Popen([str(VX86), "--api-sock", str(self.sock), "--engine", engine,
                                   *map(str, args)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        # As firecracker-go-sdk waits for the socket: poll until it answers.
        deadline = time.monotonic() + 20
        while True:
            assert self.p.poll() is None, self.p.communicate()
            if self.sock.exists():
                try:
                    status, _ = curl(self.sock, "GET", "/machine-config")
                    if status == 200:
                        break
                except AssertionError:
                    pass
            assert time.monotonic() < deadline, "the API socket never answered"
            time.sleep(0.05)

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.communicate(timeout=30)


@pytest.fixture
def vx86(tmp_path):
    """For the tests that boot no guest: any engine."""
    v = Vx86(tmp_path, "auto", "--id", "vm_1")
    yield v
    v.stop()


def test_go_sdk_sequence_boots_a_guest(tmp_path, engine):
    vx86 = Vx86(tmp_path, engine, "--id", "vm_1")
    try:
        go_sdk_sequence(vx86, tmp_path)
    finally:
        vx86.stop()


def go_sdk_sequence(vx86, tmp_path):
    s = vx86.sock
    assert curl(s, "GET", "/") == (200, {"id": "vm_1", "state": "Not started",
                                         "vmm_version": "0.1", "app_name": "vx86"})
    assert curl(s, "GET", "/machine-config") == (200, {
        "vcpu_count": 1, "mem_size_mib": 128, "smt": False, "track_dirty_pages": False,
        "huge_pages": "None"})
    assert curl(s, "PUT", "/machine-config",
                {"vcpu_count": 2, "mem_size_mib": 64, "smt": False}) == (204, None)
    assert curl(s, "PATCH", "/machine-config", {"mem_size_mib": 96}) == (204, None)
    assert curl(s, "GET", "/machine-config")[1]["mem_size_mib"] == 96
    # A kernel that is not there: InstanceStart says why, and the API stays
    # up for a corrected configuration.
    missing = tmp_path / "no-such-kernel"
    assert curl(s, "PUT", "/boot-source", {"kernel_image_path": str(missing)}) == (204, None)
    msg = fault(s, "PUT", "/actions", {"action_type": "InstanceStart"})
    assert str(missing) in msg and "No such file" in msg, msg
    assert curl(s, "GET", "/")[1]["state"] == "Not started"

    disk = tmp_path / "root.img"
    disk.write_bytes(b"\0" * 65536)
    assert curl(s, "PUT", "/boot-source", {"kernel_image_path": str(guest("echo.elf")),
                                           "boot_args": "vx86 api"}) == (204, None)
    assert curl(s, "PUT", "/drives/rootfs", {"drive_id": "rootfs", "path_on_host": str(disk),
                                             "is_root_device": True, "is_read_only": False,
                                             "io_engine": "Async"}) == (204, None)
    uds = tmp_path / "v.sock"
    assert curl(s, "PUT", "/vsock", {"guest_cid": 3, "uds_path": str(uds)}) == (204, None)
    log, metrics = tmp_path / "vx86.log", tmp_path / "metrics.json"
    assert curl(s, "PUT", "/logger", {"log_path": str(log), "level": "Info", "show_level": True,
                                      "show_log_origin": False}) == (204, None)
    assert curl(s, "PUT", "/metrics", {"metrics_path": str(metrics)}) == (204, None)
    assert curl(s, "PUT", "/entropy", {}) == (204, None)
    status, config = curl(s, "GET", "/vm/config")
    assert status == 200
    assert config["boot-source"] == {"kernel_image_path": str(guest("echo.elf")),
                                     "initrd_path": None, "boot_args": "vx86 api"}
    assert config["machine-config"]["vcpu_count"] == 2
    assert [d["drive_id"] for d in config["drives"]] == ["rootfs"]
    assert config["drives"] == [{"drive_id": "rootfs", "partuuid": None, "is_root_device": True,
                                 "cache_type": "Unsafe", "is_read_only": False,
                                 "path_on_host": str(disk), "io_engine": "Async"}]
    assert config["network-interfaces"] == []
    assert config["vsock"] == {"guest_cid": 3, "uds_path": str(uds)}
    assert config["entropy"] == {}

    assert curl(s, "PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
    read_until(vx86.p.stdout.fileno(), b"echo: ready")
    assert curl(s, "GET", "/")[1]["state"] == "Running"
    assert uds.is_socket(), "the vsock device does not listen on uds_path"
    assert curl(s, "PUT", "/actions", {"action_type": "FlushMetrics"}) == (204, None)
    lines = metrics.read_text().splitlines()
    assert len(lines) == 1, lines
    m = json.loads(lines[0])
    assert m["utc_timestamp_ms"] > 1.7e12, m
    # Counters since the last line: the sequence's requests up to here
    # (three PUT /actions: the failed start, the start, this flush).
    assert m["put_api_requests"]["actions_count"] == 3, m
    assert m["put_api_requests"]["actions_fails"] == 1, m
    assert m["put_api_requests"]["drive_count"] == 1, m
    assert m["get_api_requests"]["vm_config_count"] == 1, m
    assert curl(s, "PUT", "/actions", {"action_type": "FlushMetrics"}) == (204, None)
    m = json.loads(metrics.read_text().splitlines()[1])
    assert m["put_api_requests"]["actions_count"] == 1, m
    # Paused, the guest does not answer the console; resumed, it does.
    assert curl(s, "PATCH", "/vm", {"state": "Paused"}) == (204, None)
    assert curl(s, "GET", "/")[1]["state"] == "Paused"
    fd = vx86.p.stdout.fileno()
    while select.select([fd], [], [], 0.2)[0]:  # what the guest wrote before
        os.read(fd, 4096)
    vx86.p.stdin.write(b"x")
    vx86.p.stdin.flush()
    late = b""
    while select.select([fd], [], [], 1.0)[0]:
        late += os.read(fd, 4096)
    assert b"X" not in late, ("a paused guest echoed", late)
    assert curl(s, "PATCH", "/vm", {"state": "Paused"}) == (204, None)
    assert curl(s, "PATCH", "/vm", {"state": "Resumed"}) == (204, None)
    assert curl(s, "GET", "/")[1]["state"] == "Running"
    read_until(vx86.p.stdout.fileno(), b"X")
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9} \[vm_1:[^\]]*:INFO\] "
                     r"Running vx86 ", log.read_text(), re.M), log.read_text()
    # Pre-boot calls and a second InstanceStart are refused; reads go on.
    assert fault(s, "PUT", "/actions", {"action_type": "InstanceStart"}) == AFTER_START
    assert fault(s, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64}) == AFTER_START
    assert fault(s, "PUT", "/boot-source", {"kernel_image_path": "/x"}) == AFTER_START
    assert curl(s, "GET", "/machine-config")[1]["vcpu_count"] == 2

    # The guest's end is vx86's, as with vx86 run.
    vx86.p.stdin.write(b"q")
    vx86.p.stdin.flush()
    out, err = vx86.p.communicate(timeout=30)
    assert vx86.p.returncode == 1, err
    assert b"echo: bye" in out
    assert not s.exists(), "the socket outlived vx86"
    assert not uds.exists(), "the vsock socket outlived vx86"


def test_bad_requests_get_400_with_a_reason(vx86):
    s = vx86.sock
    assert "not valid JSON" in fault(s, "PUT", "/machine-config", '{"vcpu_count": 1,')
    assert "guest_cid 2" in fault(s, "PUT", "/vsock", {"guest_cid": 2, "uds_path": "/tmp/v"})
    assert fault(s, "PUT", "/actions", {"action_type": "FlushMetrics"}) \
        == "The metrics system was not initialized."
    assert "level Loud" in fault(s, "PUT", "/logger", {"log_path": "/tmp/l", "level": "Loud"})
    assert "No such file or directory" in fault(s, "PUT", "/logger",
                                                {"log_path": "/nonexistent/dir/log"})
    assert "No such file or directory" in fault(s, "PUT", "/metrics",
                                                {"metrics_path": "/nonexistent/dir/m"})
    assert "missing field `uds_path`" in fault(s, "PUT", "/vsock", {"guest_cid": 3})
    assert "unknown field `cid`" in fault(s, "PUT", "/vsock", {"cid": 3, "uds_path": "/tmp/v"})
    assert fault(s, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64, "foo": 1}) \
        .startswith("unknown field `foo`, expected one of `vcpu_count`")
    assert fault(s, "PUT", "/machine-config", {"vcpu_count": 1}) == "missing field `mem_size_mib`"
    assert "vcpu_count 0" in fault(s, "PUT", "/machine-config",
                                   {"vcpu_count": 0, "mem_size_mib": 64})
    assert "invalid type for `vcpu_count`" in fault(s, "PUT", "/machine-config",
                                                    {"vcpu_count": "2", "mem_size_mib": 64})
    assert "duplicate field `smt`" in fault(s, "PATCH", "/machine-config",
                                            '{"smt": false, "smt": false}')
    assert fault(s, "PUT", "/drives/a", {"drive_id": "b", "is_root_device": False,
                                         "path_on_host": "/x"}) \
        == "The id from the path does not match the id from the body!"
    assert "unknown field `x`" in fault(s, "PUT", "/boot-source",
                                        {"kernel_image_path": "/k", "x": 1})
    assert "unknown field `mtu2`" in fault(s, "PUT", "/network-interfaces/eth0",
                                           {"iface_id": "eth0", "host_dev_name": "tap0",
                                            "mtu2": 1})
    assert fault(s, "GET", "/nope") == "Invalid request method and/or path: GET /nope."
    assert fault(s, "GET", "/actions") == "Invalid request method and/or path: GET /actions."
    assert "not supported by vx86" in fault(s, "PUT", "/balloon", {"amount_mib": 1})
    assert fault(s, "PUT", "/actions", {"action_type": "SendCtrlAltDel"}) \
        == "The requested operation is not supported before starting the microVM."
    assert fault(s, "PATCH", "/vm", {"state": "Paused"}) \
        == "The requested operation is not supported before starting the microVM."
    assert "unknown variant `Stopped`" in fault(s, "PATCH", "/vm", {"state": "Stopped"})
    assert "rate limiters" in fault(s, "PUT", "/entropy", {"rate_limiter": {}})
    assert fault(s, "PUT", "/actions", {"action_type": "InstanceStart"}) \
        == "Cannot start microvm without kernel configuration."
    # HTTP errors: too large a body or head, chunked bodies, other versions.
    r = raw(s, b"PUT /boot-source HTTP/1.1\r\nContent-Length: 70000\r\n\r\n{}")
    assert status_of(r) == 413 and b"over 64 KiB" in r, r
    r = raw(s, b"GET / HTTP/1.1\r\nX-Pad: " + b"a" * 9000 + b"\r\n\r\n")
    assert status_of(r) == 431, r
    r = raw(s, b"PUT /actions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert status_of(r) == 501 and b"Content-Length" in r, r
    assert status_of(raw(s, b"GET / HTTP/2.0\r\n\r\n")) == 505
    assert status_of(raw(s, b"garbage\r\n\r\n")) == 400
    # Nothing above changed the configuration.
    assert curl(s, "GET", "/machine-config")[1]["mem_size_mib"] == 128
    # The interface goes to the TAP backend (--net tap=), which names what
    # it cannot open; the API stays up.
    assert curl(s, "PUT", "/boot-source", {"kernel_image_path": str(guest("hello.elf"))}) \
        == (204, None)
    assert curl(s, "PUT", "/network-interfaces/eth0", {
        "iface_id": "eth0", "host_dev_name": "vx86-no-tap", "guest_mac": "06:00:ac:10:00:02"}) \
        == (204, None)
    assert curl(s, "GET", "/vm/config")[1]["network-interfaces"] == [
        {"iface_id": "eth0", "host_dev_name": "vx86-no-tap", "guest_mac": "06:00:ac:10:00:02"}]
    assert "one network interface" in fault(s, "PUT", "/network-interfaces/eth1", {
        "iface_id": "eth1", "host_dev_name": "tap1"})
    msg = fault(s, "PUT", "/actions", {"action_type": "InstanceStart"})
    assert msg.startswith("--net tap=vx86-no-tap: "), msg
    assert curl(s, "GET", "/")[1]["state"] == "Not started"


def test_clients_do_not_stall_each_other(vx86):
    s = vx86.sock
    get = b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.socket(socket.AF_UNIX) as slow, socket.socket(socket.AF_UNIX) as quiet:
        slow.connect(str(s))
        quiet.connect(str(s))
        slow.sendall(get[:10])  # half a request, then nothing
        # Others are answered meanwhile: curl, and two requests on one
        # keep-alive connection half-closed after sending them.
        assert curl(s, "GET", "/version") == (200, {"firecracker_version": "1.10.0"})
        r = raw(s, get + b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert r.count(b"HTTP/1.1 200 OK") == 2 and b'"state": "Not started"' in r, r
        slow.sendall(get[10:])
        slow.settimeout(10)
        assert slow.recv(4096).startswith(b"HTTP/1.1 200 OK")
        # A client that sent nothing still holds its connection only.
        assert curl(s, "GET", "/")[0] == 200
    # One that sends request after request and never reads the answers
    # fills its own socket's buffers, no one else's.
    with socket.socket(socket.AF_UNIX) as greedy:
        greedy.connect(str(s))
        greedy.setblocking(False)
        sent = 0
        try:
            for _ in range(100000):
                sent += greedy.send(get)
        except BlockingIOError:
            pass
        assert sent > 100 * len(get)
        assert curl(s, "GET", "/version")[0] == 200


def test_sigterm_before_the_guest_runs_removes_the_socket(tmp_path):
    v = Vx86(tmp_path, "auto")
    v.p.terminate()
    out, err = v.p.communicate(timeout=30)
    assert v.p.returncode == 0, err
    assert b"terminating on signal 15 before the guest ran" in err, err
    assert not v.sock.exists()


def test_config_file_starts_at_once(tmp_path, engine):
    config = tmp_path / "vm.json"
    config.write_text(json.dumps({
        "boot-source": {"kernel_image_path": str(guest("hello.elf")), "boot_args": "vx86 test"},
        "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},
        "drives": [], "network-interfaces": [], "logger": None,
        "vsock": {"guest_cid": 3, "uds_path": str(tmp_path / "v.sock")}}))
    r = run_vx86("--config-file", config, "--no-api", "--engine", engine)
    assert r.status == 1, r
    assert "PASS" in r.out, r
    assert not (tmp_path / "v.sock").exists(), "the vsock socket outlived vx86"
    # The same with the API: it serves while the guest runs.
    config.write_text(json.dumps({"boot-source": {"kernel_image_path": str(guest("echo.elf"))}}))
    v = Vx86(tmp_path, engine, "--config-file", config)
    try:
        read_until(v.p.stdout.fileno(), b"echo: ready")
        assert curl(v.sock, "GET", "/")[1]["state"] == "Running"
        assert fault(v.sock, "PUT", "/actions", {"action_type": "InstanceStart"}) == AFTER_START
    finally:
        v.stop()


def test_config_file_errors(tmp_path):
    config = tmp_path / "vm.json"
    config.write_text(json.dumps({"boot-source": {"kernel_image_path": "/k"}, "balloon": {}}))
    r = run_vx86("--config-file", config, "--no-api")
    assert r.status == 2 and "balloon: not supported by vx86" in r.err, r
    config.write_text(json.dumps({"machine-config": {"vcpu_count": 1}}))
    r = run_vx86("--config-file", config, "--no-api")
    assert r.status == 2 and "machine-config: missing field `mem_size_mib`" in r.err, r
    r = run_vx86("--no-api")
    assert r.status == 2 and "--no-api: needs --config-file" in r.err, r


def test_firecracker_logging_options(tmp_path):
    # Firecracker's command-line logger and metrics, as PUT /logger and
    # PUT /metrics would set them; --no-seccomp is accepted.
    log, metrics = tmp_path / "fc.log", tmp_path / "fc.metrics"
    v = Vx86(tmp_path, "auto", "--id", "vm_2", "--log-path", log, "--level", "debug",
             "--show-level", "--metrics-path", metrics, "--no-seccomp")
    try:
        assert curl(v.sock, "PUT", "/actions", {"action_type": "FlushMetrics"}) == (204, None)
        assert "Reinitialization" in fault(v.sock, "PUT", "/metrics", {"metrics_path": "/tmp/m"})
        assert "already configured" in fault(v.sock, "PUT", "/logger", {"log_path": "/tmp/l"})
    finally:
        v.stop()
    assert re.search(r"\[vm_2:[^\]]*:INFO\] Running vx86 ", log.read_text()), log.read_text()
    assert json.loads(metrics.read_text().splitlines()[0])["utc_timestamp_ms"] > 0
    r = run_vx86("--api-sock", tmp_path / "x.sock", "--level", "Debug")
    assert r.status == 2 and "go with --log-path" in r.err, r
    r = run_vx86("--log-path", log, "--kernel", guest("hello.elf"))
    assert r.status == 2 and "go with --api-sock or --config-file" in r.err, r


def test_version_reads_as_firecracker():
    r = run_vx86("--version")
    assert r.status == 0
    # Kata Containers takes the second word, less its "v".
    assert re.match(r"Firecracker v\d+\.\d+\.\d+ ", r.out), r
    assert r.out.split(" ")[1] == "v1.10.0"
    assert "vx86" in r.out


@pytest.mark.skipif(not os.environ.get("VX86_LINUX"),
                    reason="VX86_LINUX not set: the Linux boots run once per suite")
def test_linux_boots_through_the_api(tmp_path):
    # Debian's kernel and the initramfs, with a read-only root drive: the
    # guest sees vda and the root= Firecracker appends, then powers off.
    linux = os.environ["VX86_LINUX"]
    disk = tmp_path / "root.img"
    disk.write_bytes(b"\0" * (1 << 20))
    v = Vx86(tmp_path, "emu")
    try:
        s = v.sock
        assert curl(s, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 512}) \
            == (204, None)
        assert curl(s, "PUT", "/boot-source", {
            "kernel_image_path": os.path.join(linux, "vmlinuz"),
            "initrd_path": str(ROOT / ".cache" / "initramfs.cpio.gz"),
            "boot_args": 'console=ttyS0 quiet vx86.run="echo cmdline $(cat /proc/cmdline);'
                         ' echo disks $(ls /sys/block)" vx86.end=poweroff'}) == (204, None)
        assert curl(s, "PUT", "/drives/rootfs", {"drive_id": "rootfs", "path_on_host": str(disk),
                                                 "is_root_device": True,
                                                 "is_read_only": True}) == (204, None)
        assert curl(s, "PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
        assert curl(s, "GET", "/")[1]["state"] == "Running"
        out, err = v.p.communicate(timeout=900)
    finally:
        v.stop()
    out = out.decode(errors="replace").replace("\r", "")
    assert v.p.returncode == 0, (out, err)
    assert "vx86.end=poweroff root=/dev/vda ro" in out, out
    assert "disks vda" in out, out


@pytest.mark.skipif(not os.environ.get("VX86_LINUX"),
                    reason="VX86_LINUX not set: the Linux boots run once per suite")
def test_no_api_metrics_count_the_drive(tmp_path):
    # --no-api with a config file's metrics (Flintlock's way): Firecracker's
    # lines, each minute and at the end, with the devices' counters in them.
    linux = os.environ["VX86_LINUX"]
    disk = tmp_path / "data.img"
    disk.write_bytes(b"\0" * (1 << 20))
    metrics = tmp_path / "metrics.json"
    config = tmp_path / "vm.json"
    config.write_text(json.dumps({
        "boot-source": {
            "kernel_image_path": os.path.join(linux, "vmlinuz"),
            "initrd_path": str(ROOT / ".cache" / "initramfs.cpio.gz"),
            "boot_args": 'console=ttyS0 quiet vx86.run="dd if=/dev/vda of=/dev/null bs=4096 '
                         'count=64" vx86.end=poweroff'},
        "machine-config": {"vcpu_count": 1, "mem_size_mib": 256},
        "drives": [{"drive_id": "data", "path_on_host": str(disk), "is_root_device": False,
                    "is_read_only": True}],
        "metrics": {"metrics_path": str(metrics)}}))
    r = run_vx86("--config-file", config, "--no-api", "--engine", "emu", timeout=900)
    assert r.status == 0, r
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert lines and all(m["utc_timestamp_ms"] > 1.7e12 for m in lines), lines
    assert sum(m["block"]["read_bytes"] for m in lines) >= 64 * 4096, lines


@pytest.mark.skipif(not os.environ.get("VX86_LINUX"),
                    reason="VX86_LINUX not set: the Linux boots run once per suite")
def test_send_ctrl_alt_del_reaches_linux(tmp_path):
    # firecracker-go-sdk's Shutdown: SendCtrlAltDel types Ctrl-Alt-Del on
    # the i8042's keyboard (i8042.nopnp: the DSDT does not announce the
    # 8042), and a kernel with ctrl-alt-del set restarts at once, which
    # ends vx86 as a guest reset does.
    linux = os.environ["VX86_LINUX"]
    v = Vx86(tmp_path, "emu")
    try:
        s = v.sock
        assert fault(s, "PUT", "/actions", {"action_type": "SendCtrlAltDel"}) == \
            "The requested operation is not supported before starting the microVM."
        assert curl(s, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 256}) \
            == (204, None)
        assert curl(s, "PUT", "/boot-source", {
            "kernel_image_path": os.path.join(linux, "vmlinuz"),
            "initrd_path": str(ROOT / ".cache" / "initramfs.cpio.gz"),
            "boot_args": 'console=ttyS0 quiet i8042.nopnp vx86.run="echo 1 '
                         '>/proc/sys/kernel/ctrl-alt-del; echo cad-ready; sleep 300"'}) \
            == (204, None)
        assert curl(s, "PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
        read_until(v.p.stdout.fileno(), b"cad-ready", timeout=300)
        assert curl(s, "PUT", "/actions", {"action_type": "SendCtrlAltDel"}) == (204, None)
        out, err = v.p.communicate(timeout=120)
    finally:
        v.stop()
    assert v.p.returncode == 0, (out, err)
    assert b"reset" in err, err


@pytest.mark.skipif(not os.environ.get("VX86_LINUX"),
                    reason="VX86_LINUX not set: the Linux boots run once per suite")
def test_patch_drive_swaps_the_image_under_linux(tmp_path):
    # Kata's placeholder drives: the guest boots with one image behind
    # vda, PATCH /drives puts another (twice the size) there, and the
    # guest sees the new capacity (a config interrupt) and the new data.
    linux = os.environ["VX86_LINUX"]
    placeholder, real = tmp_path / "placeholder.img", tmp_path / "real.img"
    placeholder.write_bytes(b"\0" * (1 << 20))
    real.write_bytes(b"vx86-swapped-image".ljust(2 << 20, b"\0"))
    cmd = ('echo swap-ready; while [ $(cat /sys/block/vda/size) != 4096 ]; do sleep 0.1; done;'
           ' echo 3 >/proc/sys/vm/drop_caches; echo data $(head -c 18 /dev/vda)')
    v = Vx86(tmp_path, "emu")
    try:
        s = v.sock
        assert curl(s, "PUT", "/boot-source", {
            "kernel_image_path": os.path.join(linux, "vmlinuz"),
            "initrd_path": str(ROOT / ".cache" / "initramfs.cpio.gz"),
            "boot_args": f'console=ttyS0 quiet vx86.run="{cmd}" vx86.end=poweroff'}) \
            == (204, None)
        assert curl(s, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 256}) \
            == (204, None)
        assert curl(s, "PUT", "/drives/scratch", {"drive_id": "scratch",
                                                  "path_on_host": str(placeholder),
                                                  "is_root_device": False}) == (204, None)
        assert "before starting" in fault(s, "PATCH", "/drives/scratch",
                                          {"drive_id": "scratch", "path_on_host": str(real)})
        assert curl(s, "PUT", "/actions", {"action_type": "InstanceStart"}) == (204, None)
        read_until(v.p.stdout.fileno(), b"swap-ready", timeout=300)
        assert "No such file" in fault(s, "PATCH", "/drives/scratch",
                                       {"drive_id": "scratch", "path_on_host": "/nonexistent"})
        assert "no such drive" in fault(s, "PATCH", "/drives/other",
                                        {"drive_id": "other", "path_on_host": str(real)})
        assert curl(s, "PATCH", "/drives/scratch", {"drive_id": "scratch",
                                                    "path_on_host": str(real)}) == (204, None)
        assert curl(s, "GET", "/vm/config")[1]["drives"][0]["path_on_host"] == str(real)
        out, err = v.p.communicate(timeout=120)
    finally:
        v.stop()
    assert v.p.returncode == 0, (out, err)
    assert b"data vx86-swapped-image" in out, out
