"""A vx86 process whose serial console is read line by line on a thread,
for tests that talk to a booted guest while it runs (test_net, test_vsock)."""
import queue
import subprocess
import threading


class ConsoleGuest:
    """vx86 started with args; its console lines in .lines as they come."""

    def __init__(self, args):
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.lines = []
        self.q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\r\n")
            self.lines.append(line)
            self.q.put(line)
        self.q.put(None)

    def wait_for(self, text, timeout=300):
        """Whether a console line holding text comes before the console ends
        or timeout seconds pass without a line."""
        while True:
            try:
                line = self.q.get(timeout=timeout)
            except queue.Empty:
                return False
            if line is None:
                return False
            if text in line:
                return True

    def value(self, key):
        """The words after "key " on the console line that starts with it."""
        for line in self.lines:
            if line.startswith(key + " "):
                return line[len(key) + 1:].split()
        return None

    def finish(self, timeout=120):
        """Waits for vx86 to end (kills it after timeout) and returns its status."""
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self.err = self.proc.stderr.read().decode(errors="replace")
        return self.proc.returncode

    def __repr__(self):
        return "--- console\n" + "\n".join(self.lines) + "\n--- stderr\n" + getattr(self, "err", "")
