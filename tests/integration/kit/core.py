"""What the integration test scripts share: failures, checks, killing what a test started, running
commands, the shared command line, and the CI rule on prerequisites."""
import argparse
import atexit
import os
import shutil
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


def integration_main(doc, scenarios, make_world, missing=lambda args: [], prepare=lambda world: None, extra=None):
    """The command line every integration script shares: `--list` (CMake registers one ctest per
    name), or `--build-dir DIR --scenario NAME` to run one scenario in a fresh world.
    missing(args) lists what is absent (root is checked here); make_world(args) builds the world
    (with teardown() and log()); prepare(world) runs before the scenario; extra maps more option
    names to argparse keyword arguments."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir")
    parser.add_argument("--scenario", choices=sorted(scenarios))
    parser.add_argument("--list", action="store_true", help="print the scenario names (CMake registers one test each)")
    for name, options in (extra or {}).items():
        parser.add_argument(name, **options)
    args = parser.parse_args()
    if args.list:
        print("\n".join(sorted(scenarios)))
        return 0
    if not args.build_dir or not args.scenario:
        parser.error("--build-dir and --scenario are required")
    absent = ([] if os.geteuid() == 0 else ["root"]) + missing(args)
    if absent:
        return missing_prerequisites(absent)
    world = make_world(args)
    return run_scenario(args.scenario, world, lambda: prepare(world), scenarios[args.scenario], world.log)


def absent_tools(*tools):
    """The command-line tools of `tools` that are not on PATH."""
    return [t for t in tools if shutil.which(t) is None]


def run(cmd, timeout=120, check_rc=False, **kw):
    """Runs a command to completion and captures its text output; with check_rc a non-zero exit
    is a TestFailure that names the command and quotes its stderr."""
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check_rc and r.returncode != 0:
        raise TestFailure(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip() or r.stdout.strip()}")
    return r

