"""A test's throwaway world, and network namespaces joined by veth pairs.

Everything here is torn down by what the test itself created: processes by pid (never by name),
namespaces by the names it added (each carries the test's pid, so runs side by side do not
collide). Nothing touches the machine's own network namespace: a veth pair is created inside the
server namespace with its peer moved straight into the other one.
"""
import os
import shutil
import tempfile

from kit.core import kill_all, run


def pid_tag():
    """What makes this run's namespace names unique on the machine."""
    return os.getpid() % 100000


class World:
    """A temp folder (world-readable, for the postgres user), the processes the test started, the
    namespaces it added, an optional PostgreSQL cluster, and the api's log for failure reports."""

    def __init__(self, build_dir, prefix="sms-bridge-it-"):
        self.build_dir = build_dir
        self.tmp = os.path.realpath(tempfile.mkdtemp(prefix=prefix))
        os.chmod(self.tmp, 0o755)
        self.processes = []
        self.namespaces = []
        self.pg = None
        self.api_log = os.path.join(self.tmp, "api.log")

    def add_namespace(self, name):
        """A new network namespace with its loopback up, deleted at teardown."""
        run(["ip", "netns", "add", name], check_rc=True)
        self.namespaces.append(name)
        netns(name, "ip", "link", "set", "lo", "up")
        return name

    def teardown(self):
        kill_all([p for p in self.processes if p])
        self.processes = []
        for ns in self.namespaces:
            run(["ip", "netns", "del", ns])
        self.namespaces = []
        if self.pg:
            self.pg.remove()
            self.pg = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log(self):
        """The api's last lines (what a failure report shows)."""
        try:
            with open(self.api_log, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""


def netns(ns, *cmd, check_rc=True, **kw):
    """Runs a command in a namespace; a non-zero exit is a TestFailure unless check_rc is off."""
    return run(["ip", "netns", "exec", ns, *cmd], check_rc=check_rc, **kw)


def veth(server, server_if, server_ip, peer, peer_if, peer_ip, prefix_len=24):
    """A veth pair between two namespaces, addressed and up. Created inside `server`, so the host's
    namespace never holds the pair."""
    netns(server, "ip", "link", "add", server_if, "type", "veth", "peer", "name", peer_if, "netns", peer)
    netns(server, "ip", "addr", "add", f"{server_ip}/{prefix_len}", "dev", server_if)
    netns(server, "ip", "link", "set", server_if, "up")
    netns(peer, "ip", "addr", "add", f"{peer_ip}/{prefix_len}", "dev", peer_if)
    netns(peer, "ip", "link", "set", peer_if, "up")


class Site:
    """A server namespace and a laptop namespace joined by a veth pair, with route_localnet on the
    server's end (inside that namespace only) so doors can DNAT to 127.0.0.1 targets.

    `letter` keeps each test's names apart (sb<letter>S<pid>, sb<letter>L<pid>)."""

    def __init__(self, w, letter, server_ip, laptop_ip, server_if="s-eth", laptop_if="l-eth"):
        self.w = w
        self.server_ip, self.laptop_ip, self.server_if = server_ip, laptop_ip, server_if
        self.server = w.add_namespace(f"sb{letter}S{pid_tag()}")
        self.laptop = w.add_namespace(f"sb{letter}L{pid_tag()}")
        veth(self.server, server_if, server_ip, self.laptop, laptop_if, laptop_ip)
        self.allow_localnet()

    def allow_localnet(self):
        self.ns(self.server, "sysctl", "-qw", f"net.ipv4.conf.{self.server_if}.route_localnet=1")

    def ns(self, ns, *cmd, check_rc=True, **kw):
        return netns(ns, *cmd, check_rc=check_rc, **kw)
