#!/usr/bin/env python3
"""The three binaries' command lines as an operator meets them: --help against the man pages,
--version against the project and git, --help under a bad environment, and the revision generator.

Each binary is run as built (no daemon is started, nothing is changed on the machine). The man
pages are checked in both directions: every option and SMS_BRIDGE_* name --help lists is in the
page, and the page documents nothing --help does not list; for sms-bridge-api, each option's entry
also names its variable and the default --help states.

Usage: cli_test.py --build-dir DIR --scenario NAME
Exit codes: 0 pass, 1 fail, 77 skipped (only outside CI; with CI=true a missing prerequisite fails).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from kit.core import TestFailure, absent_tools, check, integration_main, run

SOURCE_DIR = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARIES = {  # binary -> (its path under the build dir, its man page under docs/man)
    "sms-bridge-api": ("api-daemon/sms-bridge-api", "sms-bridge-api.8"),
    "sms-bridge-firewall-helper": ("firewall-helper/sms-bridge-firewall-helper", "sms-bridge-firewall-helper.8"),
    "sms-bridge-fwctl": ("firewall-helper/sms-bridge-fwctl", "sms-bridge-fwctl.1"),
}
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-h)(?![\w-])")
VARIABLE = re.compile(r"SMS_BRIDGE_[A-Z0-9_]*[A-Z0-9]")


def project_version():
    with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
        m = re.search(r"project\(sms_bridge VERSION ([0-9.]+)", f.read())
    check(m, "CMakeLists.txt has no project VERSION")
    return m.group(1)


class World:
    def __init__(self, build_dir):
        self.build_dir = build_dir
        self.tmp = tempfile.mkdtemp(prefix="sms-bridge-cli-")

    def binary(self, name):
        path = os.path.join(self.build_dir, BINARIES[name][0])
        check(os.access(path, os.X_OK), f"{path} is not built")
        return path

    def run(self, name, *args, env=None):
        # A clean environment: only what the test sets (and PATH), so the machine's own SMS_BRIDGE_*
        # variables cannot change the outcome.
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(env or {})}
        return subprocess.run([self.binary(name), *args], capture_output=True, text=True, timeout=30, env=e)

    def help(self, name):
        r = self.run(name, "--help")
        check(r.returncode == 0 and r.stderr == "" and len(r.stdout) > 200, f"{name} --help: {r.returncode} {r.stderr!r}")
        return r.stdout

    def teardown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log(self):
        return ""


def man_source_text(path):
    """The page's source as plain text: comments dropped, roff's escapes for -, fonts and quotes undone."""
    with open(path) as f:
        lines = [l for l in f.read().splitlines() if not l.startswith('.\\"')]
    text = "\n".join(lines)
    for escape, plain in ((r"\-", "-"), (r"\(aq", "'"), (r"\(lq", '"'), (r"\(rq", '"'), (r"\(em", "--"), (r"\e", "\\")):
        text = text.replace(escape, plain)
    return re.sub(r"\\f[BIRP]", "", text)


def entries(text):
    """The page's .TP entries as plain words: macro names and quotes dropped, lines joined."""
    out = []
    for chunk in re.split(r"^\.(?:TP|SH|SS|PP|IP)\b.*$", text, flags=re.M)[1:]:
        words = []
        for line in chunk.strip().splitlines():
            if line.startswith("."):
                line = re.sub(r"^\.[A-Z]{1,2}\s*", "", line)
            words.append(line.replace('"', ""))
        out.append(re.sub(r"\s+", " ", " ".join(words)).strip())
    return out


def scenario_man_pages(w):
    """Each man page renders without a warning, carries the project's version, and matches --help both ways."""
    version = project_version()
    for name, (_, page) in BINARIES.items():
        path = os.path.join(SOURCE_DIR, "docs", "man", page)
        check(os.path.exists(path), f"{path} is missing")
        env = dict(os.environ, LC_ALL="C.UTF-8", MANROFFSEQ="", MANWIDTH="80")
        r = run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", path], env=env)
        check(r.returncode == 0 and r.stderr == "", f"man -l {page} warns: {r.returncode} {r.stderr}")
        r = run(["groff", "-man", "-ww", "-z", path])
        check(r.returncode == 0 and r.stderr == "", f"groff -man -ww {page}: {r.stderr}")
        rendered = run(["man", "-l", path], env=dict(env, MANPAGER="cat", PAGER="cat")).stdout
        for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ENVIRONMENT", "FILES", "EXIT STATUS", "SEE ALSO"):
            check(re.search(rf"^{section}$", rendered, re.M), f"{page} has no {section} section")
        if page.endswith(".8"):
            check(re.search(r"^SIGNALS$", rendered, re.M), f"{page} has no SIGNALS section")
        source = man_source_text(path)
        th = re.search(r'^\.TH \S+ (\d) \S+ "SMS Bridge ([0-9.]+)"', source, re.M)
        check(th and th.group(1) == page[-1] and th.group(2) == version,
              f"{page}: .TH says section/version {th and th.groups()}, not {page[-1]}/{version}")

        text = w.help(name)
        help_options, page_options = set(OPTION.findall(text)), set(OPTION.findall(source))
        help_variables, page_variables = set(VARIABLE.findall(text)), set(VARIABLE.findall(source))
        check("--help" in help_options and "--version" in help_options, f"{name} --help lists no --help/--version")
        check(help_options <= page_options, f"{page} lacks options {sorted(help_options - page_options)} that --help lists")
        check(page_options <= help_options, f"{page} documents options {sorted(page_options - help_options)} --help does not list")
        check(help_variables <= page_variables, f"{page} lacks {sorted(help_variables - page_variables)}")
        check(page_variables <= help_variables, f"{page} documents {sorted(page_variables - help_variables)} --help does not list")
        print(f"{page}: {len(help_options)} options and {len(help_variables)} variables, the same as --help")

    # sms-bridge-api: each option's entry names its variable and the default --help states.
    text = w.help("sms-bridge-api")
    settings = re.findall(r"^  (--[a-z-]+) VALUE\n {6}\$(SMS_BRIDGE_\w+)  \(default (.*)\)$", text, re.M)
    check(len(settings) >= 20, f"sms-bridge-api --help lists only {len(settings)} settings")
    page_entries = entries(man_source_text(os.path.join(SOURCE_DIR, "docs", "man", "sms-bridge-api.8")))
    for flag, variable, default in settings:
        found = [e for e in page_entries if re.match(rf"{re.escape(flag)}\b(?!-)", e)]
        check(len(found) == 1, f"sms-bridge-api.8 has {len(found)} entries for {flag}")
        entry = found[0]
        check(variable in entry, f"sms-bridge-api.8's {flag} entry does not name {variable}: {entry[:200]}")
        stated = "default none" if default.startswith("(none") else f"default {default}"
        check(stated in entry, f"sms-bridge-api.8's {flag} entry does not say '{stated}' as --help does: {entry[:200]}")
    print(f"sms-bridge-api.8: {len(settings)} settings with the variable and default --help gives")


def scenario_version(w):
    """--version: one line, the project's version and a revision that is a commit of this repository."""
    version = project_version()
    in_git = run(["git", "-C", SOURCE_DIR, "rev-parse", "--show-toplevel"]).stdout.strip() == SOURCE_DIR
    revisions = set()
    for name in BINARIES:
        r = w.run(name, "--version")
        check(r.returncode == 0 and r.stderr == "", f"{name} --version: {r.returncode} {r.stderr!r}")
        m = re.fullmatch(rf"{name} (\S+) \(revision ([0-9a-f]{{7,40}}(?:-dirty)?|unknown)\)\n", r.stdout)
        check(m, f"{name} --version prints {r.stdout!r}")
        check(m.group(1) == version, f"{name} --version says {m.group(1)}, CMakeLists.txt {version}")
        revisions.add(m.group(2))
    check(len(revisions) == 1, f"the binaries report different revisions: {revisions}")
    revision = revisions.pop()
    if in_git:
        # Built from this checkout: the hash is one of its commits (HEAD, unless a commit came after the build).
        check(revision != "unknown", "built inside git, yet the revision is unknown")
        commit = revision.removesuffix("-dirty")
        kind = run(["git", "-C", SOURCE_DIR, "cat-file", "-t", commit]).stdout.strip()
        check(kind == "commit", f"the revision {revision} is not a commit of {SOURCE_DIR}")
    print(f"--version: {version} (revision {revision}) from all three")


def scenario_help_with_bad_environment(w):
    """--help and --version print in full, exit 0, even when a setting in the environment is bad."""
    clean = w.help("sms-bridge-api")
    for bad in ({"SMS_BRIDGE_MAX_CONNECTIONS": "abc"}, {"SMS_BRIDGE_LISTEN": "nowhere"},
                {"SMS_BRIDGE_HMAC_SECRET": "x", "SMS_BRIDGE_HMAC_SECRET_FILE": "/nonexistent"},
                {"SMS_BRIDGE_ADMIN_USERNAME": "alone"}):
        # The value is bad indeed: without --help it is exit 2 and a sentence naming the variable.
        refused = w.run("sms-bridge-api", "migrate", env=bad)
        name = next(iter(bad))
        check(refused.returncode == 2 and name in refused.stderr, f"{bad} is not refused: {refused.returncode} {refused.stderr!r}")
        for args in (["--help"], ["-h"], ["admin", "add", "x", "--help"], ["--no-such-option=1", "--help"]):
            r = w.run("sms-bridge-api", *args, env=bad)
            check(r.returncode == 0 and r.stdout == clean and r.stderr == "",
                  f"{bad} sms-bridge-api {' '.join(args)}: {r.returncode} {r.stderr!r} {r.stdout[:80]!r}")
        r = w.run("sms-bridge-api", "--version", env=bad)
        check(r.returncode == 0 and r.stdout.startswith("sms-bridge-api ") and r.stderr == "",
              f"{bad} sms-bridge-api --version: {r.returncode} {r.stderr!r}")
    # The helper's and fwctl's --help and --version need no config, socket or capability either.
    for name in ("sms-bridge-firewall-helper", "sms-bridge-fwctl"):
        for args in (["--help"], ["--version"]):
            r = w.run(name, *args)
            check(r.returncode == 0 and r.stdout and r.stderr == "", f"{name} {args[0]}: {r.returncode} {r.stderr!r}")
    r = w.run("sms-bridge-firewall-helper", "--config", "/nonexistent.json", "--help")
    check(r.returncode == 0 and r.stdout.startswith("usage:"), f"helper --config X --help: {r.returncode} {r.stderr!r}")
    print("--help and --version: exit 0 and the full text under four bad environments")


def scenario_revision_generator(w):
    """common/build_info.cmake, as the build runs it: unknown outside git, the hash, -dirty for a
    changed tracked file only, the packager's override, and no rewrite when nothing changed."""
    script = os.path.join(SOURCE_DIR, "common", "build_info.cmake")

    def generate(source, out, revision=""):
        run(["cmake", f"-DSOURCE_DIR={source}", f"-DOUT={out}", "-DVERSION=9.8.7", f"-DREVISION={revision}", "-P", script],
            check_rc=True)
        with open(out) as f:
            text = f.read()
        m = re.search(r'build_revision\(\) \{ return "([^"]*)"; \}', text)
        check('build_version() { return "9.8.7"; }' in text and m, f"generated file: {text}")
        return m.group(1)

    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    out = os.path.join(w.tmp, "build_info_values.cpp")
    tarball = os.path.join(w.tmp, "tarball")
    os.makedirs(tarball)
    check(generate(tarball, out) == "unknown", "outside git the revision is not unknown")
    check(generate(tarball, out, "1.2-3debian") == "1.2-3debian", "the REVISION override is not used")

    repo = os.path.join(w.tmp, "repo")
    os.makedirs(repo)
    with open(os.path.join(repo, "tracked.txt"), "w") as f:
        f.write("one\n")
    for cmd in (["init", "-q"], ["add", "tracked.txt"], ["commit", "-q", "-m", "one"]):
        run(git + ["-C", repo] + cmd, check_rc=True)
    head = run(["git", "-C", repo, "rev-parse", "--short", "HEAD"], check_rc=True).stdout.strip()
    check(generate(repo, out) == head, f"a clean checkout is not {head}")
    before = os.stat(out).st_mtime_ns
    time.sleep(0.05)
    generate(repo, out)
    check(os.stat(out).st_mtime_ns == before, "an unchanged revision rewrote the file (every build would recompile it)")
    with open(os.path.join(repo, "untracked.txt"), "w") as f:
        f.write("build output\n")
    check(generate(repo, out) == head, "an untracked file made the tree dirty")
    with open(os.path.join(repo, "tracked.txt"), "a") as f:
        f.write("two\n")
    check(generate(repo, out) == f"{head}-dirty", "a changed tracked file is not -dirty")
    run(git + ["-C", repo, "commit", "-q", "-am", "two"], check_rc=True)
    new_head = run(["git", "-C", repo, "rev-parse", "--short", "HEAD"], check_rc=True).stdout.strip()
    check(new_head != head and generate(repo, out) == new_head, "a new commit is not picked up")

    inner = os.path.join(repo, "unpacked-tarball")
    os.makedirs(inner)
    check(generate(inner, out) == "unknown", "a tarball unpacked inside another checkout reports that checkout's commit")
    print(f"revision generator: unknown, {head}, {head}-dirty, {new_head}, the override, and no needless rewrite")


def scenario_configure_without_catch2(w):
    """An install build needs no Catch2: without it the tests are off, with a line saying so; asking
    for them (-DSMS_BRIDGE_TESTS=ON) without Catch2 is a configure error, not a run with no tests."""
    build = os.path.join(w.tmp, "build-no-catch2")
    no_catch2 = ["-DCMAKE_DISABLE_FIND_PACKAGE_Catch2=ON", "-DSMS_BRIDGE_BENCH=OFF"]
    r = run(["cmake", "-S", SOURCE_DIR, "-B", build, "-G", "Ninja", *no_catch2], timeout=300)
    check(r.returncode == 0, f"configuring without Catch2 failed: {r.stderr[-2000:]}")
    check("Catch2 not found: the tests are not built" in r.stdout, f"no line says the tests are off: {r.stdout[-2000:]}")
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        check("SMS_BRIDGE_TESTS:BOOL=OFF" in f.read(), "SMS_BRIDGE_TESTS is not OFF without Catch2")
    check(not os.path.exists(os.path.join(build, "tests")), "the tests were configured without Catch2")
    shutil.rmtree(build)
    r = run(["cmake", "-S", SOURCE_DIR, "-B", build, "-G", "Ninja", "-DSMS_BRIDGE_TESTS=ON", *no_catch2], timeout=300)
    check(r.returncode != 0 and "Catch2" in r.stderr, f"-DSMS_BRIDGE_TESTS=ON without Catch2 configured: {r.returncode}")
    print("without Catch2: tests OFF with a status line; -DSMS_BRIDGE_TESTS=ON is a configure error")


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}


def main():
    def missing(args):
        return absent_tools("man", "groff", "git", "cmake")
    return integration_main(__doc__, SCENARIOS, lambda args: World(os.path.abspath(args.build_dir)), missing)


if __name__ == "__main__":
    sys.exit(main())
