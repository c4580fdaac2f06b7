"""A service manager's end of sd_notify: a datagram socket the daemon under test is pointed at
(NOTIFY_SOCKET), recording every message with the time it arrived."""
import os
import socket
import threading
import time

from kit.core import TestFailure

# How late the listener's thread may record a datagram the daemon sent just before it was stopped.
GRACE = 0.3


class NotifyListener:
    """Listens on `address` (a path, or "@name" for an abstract socket); env() is what the daemon
    needs (NOTIFY_SOCKET and, with watchdog_usec, WATCHDOG_USEC). Close it when done."""

    def __init__(self, address):
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.settimeout(0.1)
        self.messages = []  # (monotonic seconds, text)
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self._receive, daemon=True)
        self.thread.start()

    def _receive(self):
        while not self.closed:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.messages.append((time.monotonic(), data.decode()))

    def env(self, watchdog_usec=None, watchdog_pid=None):
        e = {"NOTIFY_SOCKET": self.address}
        if watchdog_usec is not None:
            e["WATCHDOG_USEC"] = str(watchdog_usec)
        if watchdog_pid is not None:
            e["WATCHDOG_PID"] = str(watchdog_pid)
        return e

    def received(self, text=None, prefix=None, since=0.0):
        """Arrival times (and texts) of the messages equal to `text` or starting with `prefix`."""
        with self.lock:
            return [(t, m) for t, m in self.messages if t >= since and (text is None or m == text)
                    and (prefix is None or m.startswith(prefix))]

    def wait_for(self, what, timeout, text=None, prefix=None, since=0.0, also=lambda: None):
        """The first (time, text) matching after `since`, within `timeout` seconds; also() runs at
        each poll (e.g. to check the daemon still runs). A TestFailure on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.received(text, prefix, since)
            if found:
                return found[0]
            also()
            time.sleep(0.01)
        raise TestFailure(f"no {what} within {timeout} s; the daemon said {[m for _, m in self.received()]}")

    def close(self):
        self.closed = True
        self.thread.join(timeout=2)
        self.sock.close()
        if not self.address.startswith("@"):
            try:
                os.unlink(self.address)
            except OSError:
                pass


def check_watchdog_cadence(listener, interval, span, since):
    """WATCHDOG=1 pings at about half `interval` seconds over `span` seconds after `since`: their
    count, and every gap between two of them within 30 % of interval/2. Returns the gaps."""
    time.sleep(max(0.0, since + span - time.monotonic()))
    pings = [t for t, _ in listener.received("WATCHDOG=1", since=since) if t <= since + span]
    expected = span / (interval / 2)
    if not expected - 1.5 <= len(pings) <= expected + 1.5:
        raise TestFailure(f"{len(pings)} WATCHDOG=1 pings in {span} s with a {interval} s watchdog; expected about {expected:.0f}")
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    for g in gaps:
        if not 0.7 * interval / 2 <= g <= 1.3 * interval / 2:
            raise TestFailure(f"WATCHDOG=1 pings {g:.2f} s apart with a {interval} s watchdog: {gaps}")
    return gaps


def check_no_ping_while_frozen(listener, pid, interval):
    """SIGSTOP for twice `interval`: no WATCHDOG=1 may arrive meanwhile (the pings come from the
    process's own loop, not from anything that runs while it is frozen); after SIGCONT they resume."""
    import signal
    os.kill(pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        time.sleep(2 * interval)
    finally:
        resumed = time.monotonic()  # before SIGCONT: the overdue ping comes at once after it
        os.kill(pid, signal.SIGCONT)
    # GRACE for a datagram sent just before the stop to reach the listener's thread (a loaded machine).
    during = [round(t - stopped, 2) for t, _ in listener.received("WATCHDOG=1", since=stopped + GRACE) if t < resumed]
    if during:
        raise TestFailure(f"WATCHDOG=1 arrived while the process was stopped, at {during} s of {resumed - stopped:.1f} s")
    listener.wait_for("a WATCHDOG=1 after SIGCONT", interval, text="WATCHDOG=1", since=resumed)
    return resumed - stopped


def check_no_ping_while_loop_stopped(listener, pid, interval):
    """Stops only the thread that runs the event loop (the main thread: io.run() in main) with
    ptrace, for twice `interval`, while the process's other threads run on: no WATCHDOG=1 may
    arrive meanwhile, so the pings prove that loop alive and not a side thread. Resumes it after.
    Returns the other threads' count (at least one, or the check would prove nothing)."""
    import ctypes
    PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT, WALL = 17, 0x4206, 0x4207, 0x40000000
    others = [int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid]
    if not others:
        raise TestFailure("the daemon has no thread besides its loop; stopping the loop alone proves nothing")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    if libc.ptrace(PTRACE_SEIZE, pid, None, None) != 0 or libc.ptrace(PTRACE_INTERRUPT, pid, None, None) != 0:
        raise TestFailure(f"cannot stop the loop thread {pid}: {os.strerror(ctypes.get_errno())}")
    try:
        os.waitpid(pid, WALL)  # the thread is stopped from here on
        stopped = time.monotonic()
        time.sleep(2 * interval)
        with open(f"/proc/{pid}/task/{others[0]}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    finally:
        resumed = time.monotonic()  # before the detach: the overdue ping comes at once after it
        libc.ptrace(PTRACE_DETACH, pid, None, 0)
    if state in ("T", "t"):
        raise TestFailure(f"thread {others[0]} was stopped too; the check needs it running")
    during = [round(t - stopped, 2) for t, _ in listener.received("WATCHDOG=1", since=stopped + GRACE) if t < resumed]
    if during:
        raise TestFailure(f"WATCHDOG=1 arrived while the event loop's thread was stopped (the other threads ran), "
                          f"at {during} s of {resumed - stopped:.1f} s")
    listener.wait_for("a WATCHDOG=1 after the loop resumed", interval, text="WATCHDOG=1", since=resumed)
    return len(others)
