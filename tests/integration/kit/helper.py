"""Starting sms-bridge-firewall-helper with a config, in a namespace the test made."""
import json
import os
import subprocess
import time

from kit.core import check


def helper_bin(build_dir, name="sms-bridge-firewall-helper"):
    """A firewall-helper binary (sms-bridge-firewall-helper, sms-bridge-fwctl) of a build tree."""
    return os.path.join(build_dir, "firewall-helper", name)


def write_config(path, config):
    with open(path, "w") as f:
        json.dump(config, f)
    return path


def start_helper(w, enter, config_path, socket, stderr=subprocess.DEVNULL, seconds=10):
    """Starts the helper of w's build with `config_path`, entered by the command prefix `enter`
    (e.g. ip netns exec NS), and waits for its socket. The process joins w.processes; a TestFailure
    if the socket does not appear within `seconds`."""
    p = subprocess.Popen([*enter, helper_bin(w.build_dir), "--config", config_path], stdout=subprocess.DEVNULL, stderr=stderr)
    w.processes.append(p)
    deadline = time.monotonic() + seconds
    while not os.path.exists(socket) and time.monotonic() < deadline:
        time.sleep(0.02)
    check(os.path.exists(socket), "the firewall helper did not start")
    return p
