"""The shipped systemd units read as a test needs them: their directives, and a SystemCallFilter=
resolved to the system calls it allows (systemd-analyze's own group lists), so a daemon can be run
under the same seccomp filter without systemd."""
import functools
import os
import subprocess

SYSTEMD_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "compose", "systemd")


def unit_path(name):
    return os.path.normpath(os.path.join(SYSTEMD_DIR, name))


def directives(name):
    """Every KEY=value line of compose/systemd/NAME, in order, as (key, value) pairs."""
    with open(unit_path(name)) as f:
        return [tuple(l.split("=", 1)) for l in f.read().splitlines() if "=" in l and not l.lstrip().startswith("#")]


@functools.lru_cache(maxsize=None)
def _groups():
    """{"@group": [member names, groups included]} from `systemd-analyze syscall-filter`."""
    out = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True, check=True, timeout=60).stdout
    groups, current = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.append(line.strip())
    return groups


def _expand(name, seen=()):
    if not name.startswith("@"):
        return {name}
    out = set()
    for member in _groups()[name]:
        if member not in seen:
            out |= _expand(member, seen + (name,))
    return out


def allowed_syscalls(name):
    """The system calls unit NAME's SystemCallFilter= lines allow, applied in order as systemd does
    (the first line an allow list; a "~" line removes from it). None if the unit has no filter."""
    allowed = None
    for key, value in directives(name):
        if key != "SystemCallFilter":
            continue
        deny = value.startswith("~")
        names = set()
        for item in value.lstrip("~").split():
            names |= _expand(item)
        if allowed is None:
            if deny:
                raise ValueError(f"{name}: a deny-list SystemCallFilter is not supported by this test")
            allowed = names
        elif deny:
            allowed -= names
        else:
            allowed |= names
    return allowed


def address_families(name):
    """RestrictAddressFamilies= of unit NAME, as a list (None if unset)."""
    values = [v for k, v in directives(name) if k == "RestrictAddressFamilies"]
    return values[-1].split() if values else None


def setting(name, key):
    values = [v for k, v in directives(name) if k == key]
    return values[-1] if values else None


# Run under sandbox_prefix(): each line must print "refused", or the filter is not in force.
_PROBE = """
import mmap, os, socket, sys
def refused(f):
    try:
        f()
    except OSError:
        return "refused"
    return "allowed"
print(refused(lambda: os.setpriority(os.PRIO_PROCESS, 0, 19)))     # @resources
print(refused(lambda: os.chown(sys.argv[1], 0, 0)))                  # @privileged (@chown)
if "AF_INET" not in sys.argv[2]:
    print(refused(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)))
if sys.argv[3] == "yes":
    print(refused(lambda: mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)))
"""


def sandbox_prefix(build_dir, name, tmp):
    """The command prefix that runs a program under unit NAME's seccomp directives (tests/unit-sandbox):
    RestrictAddressFamilies=, SystemCallFilter= and MemoryDenyWriteExecute=, with no_new_privs."""
    launcher = os.path.join(build_dir, "tests", "unit-sandbox")
    if not os.access(launcher, os.X_OK):
        raise FileNotFoundError(f"{launcher} is not built")
    listing = os.path.join(tmp, name + ".syscalls")
    with open(listing, "w") as f:
        f.write("\n".join(sorted(allowed_syscalls(name))) + "\n")
    prefix = [launcher, "--syscalls", listing]
    families = address_families(name)
    if families:
        prefix += ["--families", ",".join(families)]
    if setting(name, "MemoryDenyWriteExecute") == "yes":
        prefix.append("--deny-write-execute")
    return prefix + ["--"]


def sandbox_refusals(prefix, name, tmp, enter=()):
    """What the sandbox of unit NAME does to a few calls the unit forbids: a list of "refused" or
    "allowed" (all "refused" when it works), run through `enter` (e.g. ip netns exec NS)."""
    import sys
    target = os.path.join(tmp, "chown-probe")
    open(target, "w").close()
    os.chown(target, 65534, 65534)
    families = ",".join(address_families(name) or [])
    r = subprocess.run([*enter, *prefix, sys.executable, "-c", _PROBE, target, families,
                        setting(name, "MemoryDenyWriteExecute") or "no"], capture_output=True, text=True, timeout=60)
    return r.stdout.split() if r.returncode == 0 else [f"the probe failed: {r.stderr.strip()}"]
