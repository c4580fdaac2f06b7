"""A throwaway PostgreSQL cluster: initdb in a temp dir, run as the postgres user, deleted at the end."""
import glob
import os
import shutil
import subprocess
import tempfile

from kit.core import TestFailure, check


def pg_bin(name):
    """The newest installed PostgreSQL server binary called `name`, or None (no server installed)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else None


class Postgres:
    """A throwaway cluster: initdb in a temp dir, Unix socket only, as the postgres user."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sms-bridge-pg-")
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        self.url = f"postgresql:///sms_bridge?host={self.dir}&user=postgres"
        self.running = False

    def as_postgres(self, *cmd, check_rc=True):
        r = subprocess.run(["runuser", "-u", "postgres", "--", *cmd], capture_output=True, text=True, timeout=120, cwd="/")
        if check_rc and r.returncode != 0:
            raise TestFailure(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
        return r

    def init(self):
        self.as_postgres(pg_bin("initdb"), "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        self.as_postgres(pg_bin("createdb"), "-h", self.dir, "-U", "postgres", "sms_bridge")

    def init_on_tcp(self, namespace):
        """Like init(), but also listening on 127.0.0.1:5432 inside `namespace` (where a door can
        forward to it), with password logins over TCP as a deployed server has them."""
        self.as_postgres(pg_bin("initdb"), "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        with open(os.path.join(self.data, "pg_hba.conf"), "a") as f:
            f.write("host all all 0.0.0.0/0 scram-sha-256\n")
        r = subprocess.run(["ip", "netns", "exec", namespace, "runuser", "-u", "postgres", "--", pg_bin("pg_ctl"), "-D",
                            self.data, "-w", "-l", os.path.join(self.dir, "log"),
                            "-o", f"-k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                           capture_output=True, text=True, timeout=120, cwd="/")
        check(r.returncode == 0, f"pg_ctl start: {r.stderr}")
        self.running = True
        self.as_postgres(pg_bin("createdb"), "-h", self.dir, "-U", "postgres", "sms_bridge")

    def start(self):
        self.as_postgres(pg_bin("pg_ctl"), "-D", self.data, "-w", "-l", os.path.join(self.dir, "log"),
                         "-o", f"-k {self.dir} -c listen_addresses='' -c fsync=off", "start")
        self.running = True

    def stop(self):
        if self.running:
            self.as_postgres(pg_bin("pg_ctl"), "-D", self.data, "-w", "-m", "fast", "stop", check_rc=False)
            self.running = False

    def psql(self, sql, check_rc=True):
        r = subprocess.run(["psql", "-h", self.dir, "-U", "postgres", "-d", "sms_bridge", "-X", "-A", "-t",
                            "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True, timeout=60)
        if check_rc and r.returncode != 0:
            raise TestFailure(f"psql failed: {r.stderr.strip()}")
        return r

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def missing_server():
    """What a test lists as absent when no PostgreSQL server is installed."""
    return [] if pg_bin("initdb") else ["PostgreSQL server (initdb)"]
