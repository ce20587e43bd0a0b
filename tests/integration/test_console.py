"""The console: guest input from stdin, the Ctrl-A escape, and the terminal
left as it was found."""
import os
import pty
import select
import subprocess
import termios
import time

from conftest import GUESTS, VX86


def start(engine, **kw):
    return subprocess.Popen([str(VX86), "run", "--engine", engine, "--kernel",
                             str(GUESTS / "echo.elf")], **kw)


def read_until(fd, marker, timeout=30):
    buf = b""
    deadline = time.monotonic() + timeout
    while marker not in buf:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} in {buf!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 4096)
            assert chunk, f"EOF before {marker!r} in {buf!r}"
            buf += chunk
    return buf


def test_input_reaches_the_guest(engine):
    p = start(engine, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    read_until(p.stdout.fileno(), b"echo: ready")
    p.stdin.write(b"hello, vx86\n")
    p.stdin.flush()
    read_until(p.stdout.fileno(), b"HELLO, VX86")
    p.stdin.write(b"q")
    p.stdin.flush()
    out, err = p.communicate(timeout=30)
    assert p.returncode == 1, err
    assert b"echo: bye" in out


def test_a_paste_longer_than_the_fifo_arrives_whole(engine):
    # The guest reads COM1 all along (without a FIFO: one byte at a time):
    # what it cannot take yet waits and none of it is dropped, even once the
    # pipe is closed behind the paste (more than one read of stdin).
    text = bytes(b"abcdefghijklmnoprstuvwxyz"[i % 25] for i in range(600))  # no q
    p = start(engine, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    read_until(p.stdout.fileno(), b"echo: ready")
    p.stdin.write(text + b"q")
    p.stdin.flush()
    out, err = p.communicate(timeout=60)
    assert p.returncode == 1, err
    assert text.upper() + b"\r\necho: bye" in out, out


def test_ctrl_a_x_quits(engine):
    p = start(engine, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    read_until(p.stdout.fileno(), b"echo: ready")
    p.stdin.write(b"ab\x01\x01")  # Ctrl-A Ctrl-A sends one Ctrl-A
    p.stdin.flush()
    read_until(p.stdout.fileno(), b"AB\x01")
    p.stdin.write(b"\x01x")  # Ctrl-A x quits
    p.stdin.flush()
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert err.decode().strip().splitlines()[-1] == "vx86: quit from the console (Ctrl-A X)"


def test_terminal_raw_while_running_and_restored(engine):
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    p = start(engine, stdin=slave, stdout=slave, stderr=subprocess.PIPE)
    read_until(master, b"echo: ready")
    during = termios.tcgetattr(slave)
    assert not during[3] & (termios.ICANON | termios.ECHO | termios.ISIG), "not raw"
    os.write(master, b"\x03q")  # Ctrl-C is a key for the guest, not a signal
    read_until(master, b"echo: bye")
    p.wait(timeout=30)
    assert p.returncode == 1, p.stderr.read()
    assert termios.tcgetattr(slave) == before
    os.close(master)
    os.close(slave)


def test_sigterm_restores_the_terminal(engine):
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    p = start(engine, stdin=slave, stdout=slave, stderr=subprocess.PIPE)
    read_until(master, b"echo: ready")
    p.terminate()
    p.wait(timeout=30)
    assert p.returncode == 0
    assert p.stderr.read().decode().strip() == "vx86: terminating on signal 15"
    assert termios.tcgetattr(slave) == before
    os.close(master)
    os.close(slave)
