"""What the integration test scripts share: failures, checks, and the CI rule on prerequisites."""
import atexit
import os
import signal
import subprocess
import sys

SKIP = 77  # ctest's SKIP_RETURN_CODE for these tests


class TestFailure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def kill_all(processes):
    """Kills, by pid, the processes a test started (never by name), and waits for them."""
    for p in processes:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def missing_prerequisites(missing):
    """Exit code when something the test needs is missing: a failure in CI (CI=true), a skip elsewhere."""
    print(f"SKIP: needs {', '.join(missing)}", file=sys.stderr)
    return 1 if os.environ.get("CI", "").lower() == "true" else SKIP


def run_scenario(name, world, prepare, scenario, log):
    """Runs one scenario in its world and always tears the world down (also on a signal). Returns
    the exit code; on failure prints the reason and `log()` (the daemon's last lines)."""
    atexit.register(world.teardown)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(1))
    try:
        prepare()
        scenario(world)
    except TestFailure as e:
        print(f"FAIL {name}: {e}\n--- log ---\n{log()}", file=sys.stderr)
        return 1
    finally:
        world.teardown()
    print(f"PASS {name}")
    return 0
