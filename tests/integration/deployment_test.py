#!/usr/bin/env python3
"""The deployment files, checked statically, and the laptop monitoring stack proven end to end.

No Docker engine runs here, so the compose files are parsed by Debian's docker-compose and what
they run is run natively with the same configs:
  - a "server" network namespace runs PostgreSQL, the firewall helper (with compose/systemd's
    config) and sms-bridge-api;
  - a "laptop" namespace runs the laptop scripts (against a `docker` stand-in that records its
    arguments), the real `prometheus` with the config the server exports, and the real
    `prometheus-postgres-exporter`, which logs in through the postgres door.

Usage: deployment_test.py --build-dir DIR --scenario NAME   (--list prints the scenarios)
Exit codes: 0 pass, 1 fail, 77 skipped (only outside CI; with CI=true a missing prerequisite fails).
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse

import yaml

from kit.core import absent_tools, check, integration_main, run
from kit.postgres import missing_server
from kit.sites import World
from kit.stack import ADMIN_PASSWORD, COMPOSE, LAPTOP_IP, MONITOR_PASSWORD, REPO, SERVER_IP, SYSTEMD, Stack

LAPTOP = os.path.join(REPO, "laptop-monitoring")
# The Debian 12 base images already hold these (debian:12-slim).
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}


def compose_dir_with_env(w, source, name, replacements):
    """A copy of a compose folder with .env made from its .env.example, as a user would."""
    target = os.path.join(w.tmp, name)
    shutil.copytree(source, target)
    with open(os.path.join(target, ".env.example")) as f:
        text = f.read()
    for old, new in replacements.items():
        text = text.replace(old, new)
    with open(os.path.join(target, ".env"), "w") as f:
        f.write(text)
    return target


def compose_config(directory, file, *extra):
    r = run(["docker-compose", "-f", os.path.join(directory, file), "--project-directory", directory, *extra, "config"],
            cwd=directory)
    check(r.returncode == 0, f"docker-compose config rejected {file}: {r.stderr.strip()}")
    return yaml.safe_load(r.stdout)


# ---------------------------------------------------------------- static checks

def scenario_server_compose(w):
    d = compose_dir_with_env(w, COMPOSE, "compose", {"CHANGE-ME": "a-long-enough-secret-value"})
    with_redis = compose_config(d, "docker-compose-main.yml", "--profile", "redis")
    plain = compose_config(d, "docker-compose-main.yml")
    services = with_redis["services"]
    check(set(services) == {"sms_receiver", "firewall-helper", "postgres", "pgbouncer", "redis", "tls-proxy"}, f"services: {sorted(services)}")
    check(services["redis"].get("profiles") == ["redis"], "redis is not behind the 'redis' profile")
    check(services["tls-proxy"].get("profiles") == ["tls"], "the TLS proxy is not behind the 'tls' profile")
    def port(p):  # (published, target): docker-compose v1 prints "[IP:]PUBLISHED:TARGET" or a mapping
        if isinstance(p, dict):
            return str(p["published"]), int(p["target"])
        *_, published_port, target = str(p).split(":")
        return published_port, int(target.split("/")[0])
    # Without a profile only 8080 is published; the tls profile adds 443 and 80 (its redirect).
    published = [(name, port(p)) for name, s in plain["services"].items() if not s.get("profiles") for p in s.get("ports", [])]
    check(published == [("sms_receiver", ("8080", 8080))], f"only 8080 may be published: {published}")
    tls = services["tls-proxy"]
    check(sorted(port(p) for p in tls.get("ports", [])) == [("443", 8443), ("80", 8081)],
          f"the TLS proxy must publish 443 and 80 only: {tls.get('ports')}")
    check(tls.get("user", "").split(":")[0] not in ("", "0", "root") and tls.get("read_only") is True and tls.get("cap_drop") == ["ALL"],
          f"the TLS proxy's confinement: {tls}")
    check(services["sms_receiver"]["environment"].get("SMS_BRIDGE_TRUSTED_PROXIES") ==
          f"{tls['networks']['public']['ipv4_address']}/32", "SMS_BRIDGE_TRUSTED_PROXIES must name the TLS proxy's fixed address")
    helper = services["firewall-helper"]
    check(helper.get("network_mode") == "host" and helper.get("cap_drop") == ["ALL"] and helper.get("cap_add") == ["NET_ADMIN"]
          and helper.get("read_only") is True, f"the helper sidecar's confinement: {helper}")
    receiver = services["sms_receiver"]
    check(receiver.get("user", "").split(":")[0] not in ("", "0", "root"), "sms_receiver must not run as root")
    nofile = receiver.get("ulimits", {}).get("nofile", {})
    check(isinstance(nofile, dict) and int(nofile.get("soft", 0)) >= 2 * 2048 + 256,
          f"sms_receiver's nofile ulimit does not fit its connection cap: {nofile}")
    def mounts(service):  # docker-compose v1 prints "source:target:mode", v2 a mapping
        return {(v["source"], v["target"]) if isinstance(v, dict) else tuple(v.split(":")[:2]) for v in service.get("volumes", [])}
    check(("firewall-socket", "/run/sms-bridge") in mounts(receiver) & mounts(helper),
          f"the helper's socket is not on a volume shared with sms_receiver: {mounts(receiver)} {mounts(helper)}")
    for name, s in services.items():
        check("healthcheck" in s and s["healthcheck"].get("test"), f"{name} has no healthcheck")
    backend = with_redis["networks"]["backend"]
    check(backend.get("internal") is True, "the backend network must be internal")
    # The helper's targets are the fixed backend addresses of the services they name.
    with open(os.path.join(COMPOSE, "firewall-helper.json")) as f:
        helper_config = json.load(f)
    owners = {"metrics": "sms_receiver", "postgres": "postgres", "pgbouncer": "pgbouncer", "redis": "redis"}
    for door, target in helper_config["services"].items():
        address, port = target["target"].rsplit(":", 1)
        owner = services[owners[door]]
        check(owner["networks"]["backend"]["ipv4_address"] == address, f"door {door} points at {address}, not at {owners[door]}")
    check(receiver["environment"]["SMS_BRIDGE_METRICS_LISTEN"].endswith(":9464")
          and helper_config["services"]["metrics"]["target"].endswith(":9464"), "the metrics door must reach the metrics listener")
    check(str(receiver.get("user")).split(":")[0] in [str(u) for u in helper_config["allowed_uids"]],
          "the helper must allow sms_receiver's uid on its socket")
    # Both helper configs pass the helper's own check (names become root: no sms-bridge user here).
    for path in (os.path.join(COMPOSE, "firewall-helper.json"), os.path.join(SYSTEMD, "firewall-helper.json")):
        with open(path) as f:
            config = json.load(f)
        config["allowed_uids"] = [0 if isinstance(u, str) else u for u in config.get("allowed_uids", [])]
        copy = os.path.join(w.tmp, "check-" + os.path.basename(os.path.dirname(path)) + ".json")
        with open(copy, "w") as f:
            json.dump(config, f)
        r = run([os.path.join(w.build_dir, "firewall-helper", "sms-bridge-firewall-helper"), "--check-config", copy])
        check(r.returncode == 0, f"{path}: {r.stdout} {r.stderr}")
    # PgBouncer's entrypoint and the run command are shellcheck-clean.
    r = run(["shellcheck", "-x", os.path.join(COMPOSE, "pgbouncer", "entrypoint.sh"), os.path.join(COMPOSE, "run-local.sh")])
    check(r.returncode == 0, f"shellcheck: {r.stdout}")


def scenario_dockerfile(w):
    with open(os.path.join(COMPOSE, "Dockerfile")) as f:
        text = f.read()
    stages = {name: image for image, name in re.findall(r"^FROM (\S+) AS (\S+)", text, re.M)}
    check(set(stages) == {"build", "firewall-helper", "api", "pgbouncer"}, f"stages: {stages}")
    check(all(image.startswith("debian:12") for image in stages.values()), f"every stage builds from Debian 12: {stages}")
    # Every COPY from the build context names something that exists.
    for source in re.findall(r"^COPY (?!--from)(\S+)", text, re.M):
        check(os.path.exists(os.path.join(REPO, source)), f"the Dockerfile copies {source}, which does not exist")
    # Each runtime stage installs the package of every library its binaries need, and nothing of the toolchain.
    blocks = re.split(r"^FROM ", text, flags=re.M)
    def packages_of(stage):
        block = next(b for b in blocks if re.match(rf"\S+ AS {re.escape(stage)}\b", b))
        found = re.search(r"apt-get install -y --no-install-recommends\s*\\?\s*(.*?)\s*\\?\s*&&", block, re.S)
        return set(found.group(1).replace("\\", " ").split()) if found else set()
    for stage, binaries in (("api", ["api-daemon/sms-bridge-api"]),
                            ("firewall-helper", ["firewall-helper/sms-bridge-firewall-helper", "firewall-helper/sms-bridge-fwctl"])):
        installed = packages_of(stage)
        check(not any(p.endswith("-dev") or p in ("build-essential", "cmake") for p in installed), f"{stage} ships build tools: {installed}")
        for binary in binaries:
            needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", run(["readelf", "-d", os.path.join(w.build_dir, binary)]).stdout)
            for lib in needed:
                if lib.startswith(("libasan", "libubsan", "liblsan")):
                    continue  # the sanitizer build's runtime (tests/run.sh's second pass), never in an image
                path = next((l.split("=>")[1].split()[0] for l in run(["ldd", os.path.join(w.build_dir, binary)]).stdout.splitlines()
                             if l.strip().startswith(lib + " ")), None)
                check(path, f"{binary}: ldd does not resolve {lib}")
                owner = run(["dpkg", "-S", os.path.realpath(path)]).stdout.split(":")[0] or run(["dpkg", "-S", path]).stdout.split(":")[0]
                check(owner in installed or owner in BASE_IMAGE_PACKAGES,
                      f"the {stage} image lacks {owner} (for {lib} of {os.path.basename(binary)})")


def help_variables(w):
    r = run([os.path.join(w.build_dir, "api-daemon", "sms-bridge-api"), "--help"])
    return set(re.findall(r"\$(SMS_BRIDGE_[A-Z_]+)", r.stdout))


def scenario_env_example(w):
    known = help_variables(w)
    check(len(known) >= 15, f"--help lists too few variables: {sorted(known)}")
    with open(os.path.join(COMPOSE, ".env.example")) as f:
        lines = f.read().splitlines()
    listed = set(re.findall(r"^#?(SMS_BRIDGE_[A-Z_]+)=", "\n".join(lines), re.M))
    check(listed - known == set(), f".env.example names settings sms-bridge-api does not know: {sorted(listed - known)}")
    check(known - listed == set(), f".env.example leaves out settings: {sorted(known - listed)}")
    # Every setting line has an explanation: the line above it is a comment.
    for i, line in enumerate(lines):
        if re.match(r"^#?[A-Z_]+=", line):
            check(i > 0 and lines[i - 1].startswith("#"), f".env.example: '{line}' has no explanation above it")
    # The values it sets are ones the daemon accepts (an empty one keeps the default): a config
    # error is exit 2 before any database work, so `migrate` against nothing must fail with 1, not 2.
    env = {k: v for k, v in (l.split("=", 1) for l in lines if re.match(r"^[A-Z_]+=", l))}
    env = {k: ("x" * 20 if v == "CHANGE-ME" else v) for k, v in env.items()}
    env["SMS_BRIDGE_DATABASE_URL"] = f"postgresql:///nothing?host={w.tmp}"
    r = run([os.path.join(w.build_dir, "api-daemon", "sms-bridge-api"), "migrate"], env=dict(os.environ, **env))
    check(r.returncode == 1, f"sms-bridge-api refused .env.example's values: exit {r.returncode}: {r.stderr.strip()}")


def scenario_systemd_units(w):
    root = os.path.join(w.tmp, "root")
    run(["cmake", "--install", w.build_dir, "--prefix", "/usr"], env=dict(os.environ, DESTDIR=root))
    check(os.access(os.path.join(root, "usr/sbin/sms-bridge-api"), os.X_OK), "cmake --install did not install sms-bridge-api")
    shutil.copytree("/usr/lib/systemd", os.path.join(root, "usr/lib/systemd"), symlinks=True, dirs_exist_ok=True)
    units = sorted(glob.glob(os.path.join(SYSTEMD, "*.service")))
    check(len(units) == 2, f"units: {units}")
    os.makedirs(os.path.join(root, "etc/systemd/system"))
    # ExecReload=kill -HUP $MAINPID: kill comes from procps on the target system.
    shutil.copy(shutil.which("kill"), os.path.join(root, "usr/bin/kill"))
    for u in units:
        shutil.copy(u, os.path.join(root, "etc/systemd/system"))
    # verify runs man(1) for each Documentation= page: the installed ones, then this machine's.
    manpath = f"{root}/usr/share/man:/usr/share/man"
    r = run(["systemd-analyze", "verify", f"--root={root}", *map(os.path.basename, units)], cwd=w.tmp,
            env=dict(os.environ, MANPATH=manpath))
    check(r.returncode == 0 and r.stderr.strip() == "" and r.stdout.strip() == "", f"systemd-analyze verify: {r.stdout} {r.stderr}")
    def directives(unit):
        with open(os.path.join(SYSTEMD, unit)) as f:
            return dict(l.split("=", 1) for l in f.read().splitlines() if "=" in l and not l.startswith("#"))
    helper = directives("sms-bridge-firewall-helper.service")
    for key, value in (("AmbientCapabilities", "CAP_NET_ADMIN"), ("CapabilityBoundingSet", "CAP_NET_ADMIN"),
                       ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("RestrictAddressFamilies", "AF_UNIX AF_NETLINK"),
                       ("StateDirectory", "sms-bridge-firewall")):
        check(helper.get(key) == value, f"the helper unit: {key}={helper.get(key)}, expected {value}")
    check(helper.get("User") not in (None, "root"), "the helper unit runs as root")
    api = directives("sms-bridge-api.service")
    check(api.get("CapabilityBoundingSet") == "" and api.get("NoNewPrivileges") == "yes" and api.get("User") not in (None, "root"),
          f"the api unit's confinement: {api}")
    # The api's connection cap (2048 per listener) must fit under its descriptor limit.
    check(int(api.get("LimitNOFILE", "0")) >= 2 * 2048 + 256, f"the api unit's LimitNOFILE: {api.get('LimitNOFILE')}")
    check(int(helper.get("LimitNOFILE", "0")) >= 1024, f"the helper unit's LimitNOFILE: {helper.get('LimitNOFILE')}")
    # The helper's systemd config names the api's user; the unit's group owns the socket directory.
    with open(os.path.join(SYSTEMD, "firewall-helper.json")) as f:
        check(api["User"] in json.load(f)["allowed_uids"], "the helper's config does not allow the api unit's user")
    check(helper.get("Group") == api.get("Group"), "the two units must share the socket's group")
    # sysusers.d and tmpfiles.d apply to an empty root.
    os.makedirs(os.path.join(root, "etc"), exist_ok=True)
    for name in ("passwd", "group", "shadow", "gshadow"):
        open(os.path.join(root, "etc", name), "a").close()
    r = run(["systemd-sysusers", f"--root={root}", os.path.join(SYSTEMD, "sms-bridge.sysusers.conf")])
    check(r.returncode == 0, f"systemd-sysusers: {r.stderr}")
    with open(os.path.join(root, "etc/passwd")) as f:
        users = {l.split(":")[0] for l in f}
    check({api["User"], helper["User"]} <= users, f"sysusers made {users}")
    r = run(["systemd-tmpfiles", f"--root={root}", "--create", os.path.join(SYSTEMD, "sms-bridge.tmpfiles.conf")])
    check(r.returncode == 0 and os.path.isdir(os.path.join(root, "var/log/sms-bridge")), f"systemd-tmpfiles: {r.stderr}")
    # The sysctl drop-in names keys this kernel has (the interface as "default").
    with open(os.path.join(SYSTEMD, "60-sms-bridge.sysctl.conf")) as f:
        keys = [l.split("=")[0].strip() for l in f if "=" in l and not l.startswith("#")]
    check(set(keys) == {"net.ipv4.conf.eth0.route_localnet"}, f"sysctl keys: {keys}")
    for key in keys:
        path = "/proc/sys/" + key.replace(".eth0.", ".default.").replace(".", "/")
        check(os.path.exists(path), f"the sysctl drop-in sets {key}, which this kernel does not have")


# The exposure gate: `systemd-analyze security` of each shipped unit, at most this overall level.
EXPOSURE_LIMIT = 1.2


def scenario_systemd_exposure(w):
    scores = {}
    for unit in sorted(glob.glob(os.path.join(SYSTEMD, "*.service"))):
        name = os.path.basename(unit)
        # --threshold is the level times ten; above it, systemd-analyze itself exits non-zero.
        r = run(["systemd-analyze", "security", "--offline=yes", f"--threshold={int(EXPOSURE_LIMIT * 10)}", "--no-pager", unit],
                cwd=w.tmp)
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d)", r.stdout)
        check(m, f"systemd-analyze security gave no overall level for {name}: {r.stdout[-500:]} {r.stderr}")
        scores[name] = float(m.group(1))
        failing = "\n".join(l for l in r.stdout.splitlines() if l.startswith("\u2717"))
        check(scores[name] <= EXPOSURE_LIMIT and r.returncode == 0,
              f"{name}: exposure {scores[name]} (exit {r.returncode}), more than {EXPOSURE_LIMIT}; the open items:\n{failing}")
    check(len(scores) == 2, f"units: {sorted(scores)}")
    print("exposure: " + ", ".join(f"{n} {s}" for n, s in scores.items()))


def scenario_laptop_static(w):
    d = compose_dir_with_env(w, LAPTOP, "laptop", {"CHANGE-ME": "password-1234", "sms-bridge.example.com": "203.0.113.7"})
    config = compose_config(d, "docker-compose-monitoring.yml")
    services = config["services"]
    check(set(services) == {"prometheus", "grafana", "postgres-exporter"}, f"services: {sorted(services)}")
    prom = services["prometheus"]
    check("--web.listen-address=127.0.0.1:9090" in prom["command"], "Prometheus must listen on 127.0.0.1 only")
    check("--web.enable-remote-write-receiver" in prom["command"], "Prometheus must take the backfilled history by remote write")
    check(not any("lifecycle" in a for a in prom["command"]), "Prometheus must not open its lifecycle API")
    check(not any(s.get("ports") for s in services.values()), "nothing may be published to the LAN")
    grafana = services["grafana"]["environment"]
    check(grafana["GF_SECURITY_ADMIN_PASSWORD"] == "password-1234" and grafana["GF_SERVER_HTTP_ADDR"] == "127.0.0.1",
          f"Grafana: {grafana}")
    # Without a password in .env, compose refuses (no admin/admin default).
    with open(os.path.join(d, ".env"), "a") as f:
        f.write("GRAFANA_ADMIN_PASSWORD=\n")
    r = run(["docker-compose", "-f", os.path.join(d, "docker-compose-monitoring.yml"), "config", "-q"], cwd=d)
    check(r.returncode != 0 and "GRAFANA_ADMIN_PASSWORD" in r.stderr, f"an empty Grafana password was accepted: {r.stderr}")
    # Alert rules and their unit tests.
    r = run(["promtool", "check", "rules", os.path.join(LAPTOP, "prometheus", "alerts.yml")])
    check(r.returncode == 0, f"promtool check rules: {r.stdout} {r.stderr}")
    r = run(["promtool", "test", "rules", "alerts_test.yml"], cwd=os.path.join(LAPTOP, "prometheus"))
    check(r.returncode == 0 and "SUCCESS" in r.stdout, f"promtool test rules: {r.stdout} {r.stderr}")
    # The template is a valid config once its placeholder is filled.
    template = os.path.join(d, "config", "prometheus-remote.yml")
    with open(os.path.join(LAPTOP, "config", "prometheus-remote.yml.template")) as f:
        text = f.read().replace("SERVER_ADDRESS", "203.0.113.7")
    with open(template, "w") as f:
        f.write(text)
    check("out_of_order_time_window: 7d" in text, "the template has no out-of-order window for the backfilled history")
    r = run(["promtool", "check", "config", template])
    check(r.returncode == 0, f"promtool check config (template): {r.stdout} {r.stderr}")
    # Grafana provisioning: the datasource uid the dashboards use, three dashboards with queries.
    with open(os.path.join(LAPTOP, "config", "grafana-datasources.yml")) as f:
        uid = yaml.safe_load(f)["datasources"][0]["uid"]
    dashboards = dashboard_queries()
    check(len(dashboards) == 3, f"dashboards: {list(dashboards)}")
    for title, queries in dashboards.items():
        check(len(queries) >= 5, f"{title} has too few queries")
    for path in glob.glob(os.path.join(LAPTOP, "grafana", "dashboards", "*.json")):
        with open(path) as f:
            d_json = json.load(f)
        check(any(an.get("expr") == "sms_bridge_history_backfilled" and an.get("enable")
                  for an in d_json.get("annotations", {}).get("list", [])),
              f"{os.path.basename(path)} does not mark the backfilled history")
        for p in d_json["panels"]:
            check(p["datasource"]["uid"] == uid and all(t["datasource"]["uid"] == uid for t in p["targets"]),
                  f"{path}: panel '{p['title']}' uses another datasource")
    # The scripts: strict mode and shellcheck-clean.
    scripts = sorted(glob.glob(os.path.join(LAPTOP, "scripts", "*.sh")))
    for s in scripts:
        with open(s) as f:
            text = f.read()
        check("set -euo pipefail" in text or s.endswith("lib.sh"), f"{s} does not set -euo pipefail")
    r = run(["shellcheck", "-x", *scripts], cwd=os.path.join(LAPTOP, "scripts"))
    check(r.returncode == 0, f"shellcheck: {r.stdout}")


def scenario_laptop_scripts(w):
    """The scripts' own behaviour, with stand-ins for docker (v2 absent) and docker-compose (v1)."""
    laptop = os.path.join(w.tmp, "laptop")
    shutil.copytree(LAPTOP, laptop)
    bin_dir = os.path.join(w.tmp, "bin")
    os.makedirs(bin_dir)
    calls = os.path.join(w.tmp, "calls.log")
    for name, rc in (("docker", 1), ("docker-compose", 0)):  # `docker compose version` fails: no v2 plugin
        with open(os.path.join(bin_dir, name), "w") as f:
            f.write(f"#!/bin/sh\nprintf '{name} %s\\n' \"$*\" >> {calls}\nexit {rc}\n")
        os.chmod(os.path.join(bin_dir, name), 0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:/usr/bin:/bin")

    def script(name, *args):
        r = run(["bash", os.path.join(laptop, "scripts", name), *args], env=env, stdin=subprocess.DEVNULL, timeout=60)
        return r.returncode, r.stdout + r.stderr

    # No .env: one is made from the example, and the script stops with a sentence (no prompt).
    rc, out = script("start-monitoring.sh")
    check(rc == 1 and "set every CHANGE-ME" in out and os.path.exists(os.path.join(laptop, ".env")), f"no .env: {rc} {out}")
    check(oct(os.stat(os.path.join(laptop, ".env")).st_mode & 0o777) == "0o600", ".env must be private")
    rc, out = script("start-monitoring.sh")
    check(rc == 1 and "set GRAFANA_ADMIN_PASSWORD" in out, f"example values: {rc} {out}")
    with open(os.path.join(laptop, ".env")) as f:
        text = f.read().replace("CHANGE-ME", "pw-1234").replace("sms-bridge.example.com", "203.0.113.7")
    with open(os.path.join(laptop, ".env"), "w") as f:
        f.write(text + "BROKEN LINE\n")
    rc, out = script("start-monitoring.sh")
    check(rc == 1 and "is not KEY=VALUE" in out, f"a broken .env line: {rc} {out}")
    with open(os.path.join(laptop, ".env"), "w") as f:
        f.write(text)
    rc, out = script("start-monitoring.sh")
    check(rc == 1 and "no config/prometheus-remote.yml yet" in out, f"no exported config: {rc} {out}")
    shutil.copy(os.path.join(laptop, "config", "prometheus-remote.yml.template"), os.path.join(laptop, "config", "prometheus-remote.yml"))
    rc, out = script("start-monitoring.sh")
    check(rc == 0 and "http://localhost:3000" in out, f"start: {rc} {out}")
    rc, out = script("stop-monitoring.sh", "--purge")
    check(rc == 0, f"stop --purge: {rc} {out}")
    with open(calls) as f:
        recorded = f.read().splitlines()
    compose_file = os.path.join(laptop, "docker-compose-monitoring.yml")
    env_file = os.path.join(laptop, ".env")
    check(f"docker-compose -f {compose_file} --env-file {env_file} up -d" in recorded
          and f"docker-compose -f {compose_file} --env-file {env_file} down -v" in recorded,
          f"the v1 fallback was not used: {recorded}")
    # Nothing installed: a sentence saying what to install. PATH holds only the tools the scripts use.
    os.remove(os.path.join(bin_dir, "docker-compose"))
    for tool in ("bash", "cp", "chmod", "dirname", "basename", "mktemp", "curl", "python3", "sed", "cat", "rm", "mv", "tr", "grep"):
        os.symlink(shutil.which(tool), os.path.join(bin_dir, tool))
    env["PATH"] = bin_dir
    rc, out = script("start-monitoring.sh")
    check(rc == 1 and "install Docker Compose" in out, f"no compose at all: {rc} {out}")
    # Usage mistakes and --help.
    rc, out = script("monitoring-session.sh", "--bogus")
    check(rc == 1 and "unknown argument '--bogus'" in out, f"a bad argument: {rc} {out}")
    rc, out = script("monitoring-session.sh", "--doors", "metrics;rm")
    check(rc == 1 and "not a comma-separated list" in out, f"a bad door list: {rc} {out}")
    for name in ("start-monitoring.sh", "stop-monitoring.sh", "check-monitoring.sh", "monitoring-session.sh"):
        rc, out = script(name, "--help")
        check(rc == 0 and len(out.strip().splitlines()) >= 2 and "set -euo" not in out, f"{name} --help: {rc} {out}")
    # The server unreachable: the session says so and leaves nothing behind.
    with open(os.path.join(laptop, ".env"), "a") as f:
        f.write("SMS_BRIDGE_URL=http://127.0.0.1:9\n")
    rc, out = script("monitoring-session.sh")
    check(rc == 1 and "cannot reach http://127.0.0.1:9" in out and not os.path.exists(os.path.join(laptop, ".session-doors")),
          f"an unreachable server: {rc} {out}")


def dashboard_queries():
    out = {}
    for path in sorted(glob.glob(os.path.join(LAPTOP, "grafana", "dashboards", "*.json"))):
        with open(path) as f:
            d = json.load(f)
        out[d["title"]] = [(p["title"], t["expr"]) for p in d["panels"] for t in p["targets"]]
    return out


def alert_queries():
    """Each alert's expression without its threshold: the part that must return data."""
    with open(os.path.join(LAPTOP, "prometheus", "alerts.yml")) as f:
        rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]
    out = []
    for r in rules:
        expr = re.sub(r"\s*(==|!=|>=|<=|>|<)\s*[0-9.]+\s*$", "", r["expr"])
        check(expr != r["expr"], f"alert {r['alert']}: no threshold to strip from {r['expr']}")
        out.append((r["alert"], expr))
    return out


# ---------------------------------------------------------------- end to end

def prometheus_query(site, expr):
    status, text = site.laptop_curl("http://127.0.0.1:9090/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    check(status == 200, f"query {expr}: {status} {text}")
    return json.loads(text)["data"]["result"]


def targets(site):
    status, text = site.laptop_curl("http://127.0.0.1:9090/api/v1/targets")
    if status != 200:
        return {}
    return {t["labels"]["job"]: t["health"] for t in json.loads(text)["data"]["activeTargets"]}


def wait_for(what, predicate, seconds, tick=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        if tick:
            tick()
        time.sleep(1)
    check(predicate(), f"timed out after {seconds} s waiting for {what}")


class LaptopSession:
    """What the laptop_* scenarios share: the server's stack in its namespace, and the laptop folder as
    a user has it (.env filled in, `docker` a stand-in that records its arguments in docker_log)."""

    def __init__(self, w, api_env=None):
        self.site = Stack(w)
        self.pg = self.site.start_postgres()
        self.site.start_helper()
        # A registration a second from one laptop.
        self.site.start_api(self.pg, extra_env={"SMS_BRIDGE_SMS_REQUESTS_PER_SOURCE": "100000", **(api_env or {})})
        self.dir = compose_dir_with_env(w, LAPTOP, "laptop", {
            "SMS_BRIDGE_URL=https://sms-bridge.example.com:8080": f"SMS_BRIDGE_URL=http://{SERVER_IP}:8080",
            "SMS_BRIDGE_HOST=sms-bridge.example.com": f"SMS_BRIDGE_HOST={SERVER_IP}",
            "SMS_BRIDGE_ADMIN_USER=admin": "SMS_BRIDGE_ADMIN_USER=ops",
            "SMS_BRIDGE_ADMIN_PASSWORD=CHANGE-ME": f"SMS_BRIDGE_ADMIN_PASSWORD={ADMIN_PASSWORD}",
            "POSTGRES_MONITOR_PASSWORD=CHANGE-ME": f"POSTGRES_MONITOR_PASSWORD={MONITOR_PASSWORD}",
            "POSTGRES_SSLMODE=prefer": "POSTGRES_SSLMODE=disable",
            "CHANGE-ME": "grafana-password-1234"})
        bin_dir = os.path.join(w.tmp, "bin")
        os.makedirs(bin_dir)
        self.docker_log = os.path.join(w.tmp, "docker.log")
        with open(os.path.join(bin_dir, "docker"), "w") as f:
            f.write(f"#!/bin/sh\nprintf '%s\\n' \"$*\" >> {self.docker_log}\nexit 0\n")
        os.chmod(os.path.join(bin_dir, "docker"), 0o755)
        self.path = f"{bin_dir}:{os.environ['PATH']}"

    def script(self, name, *args):
        """Runs one of the laptop's scripts in the laptop namespace; returns (exit code, its output)."""
        r = self.site.ns(self.site.laptop, "env", f"PATH={self.path}", "bash", os.path.join(self.dir, "scripts", name), *args,
                         check_rc=False, stdin=subprocess.DEVNULL, timeout=120)
        return r.returncode, r.stdout + r.stderr


def scenario_laptop_bad_duration(w):
    """A bad duration is refused with a sentence, before anything is opened (no Prometheus needed)."""
    session = LaptopSession(w)
    rc, out = session.script("monitoring-session.sh", "--minutes", "5")
    check(rc == 1 and "15 to 240 minutes" in out, f"--minutes 5: {rc} {out}")
    check(not os.path.exists(session.docker_log) and not os.path.exists(os.path.join(session.dir, ".session-doors")),
          "the refused session started something")
    status, text = session.site.laptop_curl(f"http://{SERVER_IP}:8080/admin/monitoring/port-status", "-u", f"ops:{ADMIN_PASSWORD}")
    check(status == 200 and json.loads(text) == {}, f"the refused session opened a door: {status} {text}")  # the helper's own list


def scenario_laptop_otp(w):
    """An admin with a second factor: monitoring-session.sh without a code and no terminal stops with
    a sentence, a wrong --otp is refused, the right one opens both doors (one code, one session);
    stop-monitoring.sh closes them without a code (closing only takes access away); on a terminal,
    monitoring-session.sh asks for the next code and opens them again."""
    import base64, fcntl, hashlib, hmac, pty, select, struct, termios
    session = LaptopSession(w)
    site = session.site
    r = subprocess.run([os.path.join(w.build_dir, "api-daemon", "sms-bridge-api"), "admin", "totp", "enable", "ops"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, SMS_BRIDGE_DATABASE_URL=session.pg.url, SMS_BRIDGE_HMAC_SECRET="hmac-secret-0123456789"))
    m = re.search(r"otpauth://totp/\S*[?&]secret=([A-Z2-7]+)", r.stdout)
    check(r.returncode == 0 and m is not None, f"admin totp enable ops: {r.returncode} {r.stdout} {r.stderr}")
    key = base64.b32decode(m.group(1) + "=" * (-len(m.group(1)) % 8))

    def code(step):
        mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
        o = mac[19] & 15
        return f"{(struct.unpack('>I', mac[o:o + 4])[0] & 0x7fffffff) % 1000000:06d}"

    def open_doors():
        status, text = site.laptop_curl(f"http://{SERVER_IP}:8080/admin/monitoring/port-status", "-u", f"ops:{ADMIN_PASSWORD}")
        check(status == 200, f"port-status: {status} {text}")
        return sorted(json.loads(text))

    rc, out = session.script("monitoring-session.sh", "--minutes", "15")
    check(rc == 1 and "pass --otp CODE" in out and open_doors() == [], f"no code, no terminal: {rc} {out}")
    step = int(time.time()) // 30
    wrong = next(c for c in ("000000", "111111", "222222") if c not in {code(s) for s in range(step - 1, step + 3)})
    rc, out = session.script("monitoring-session.sh", "--minutes", "15", "--otp", wrong)
    check(rc == 1 and "refused the login with that one-time code" in out and open_doors() == [], f"a wrong code: {rc} {out}")
    rc, out = session.script("monitoring-session.sh", "--minutes", "15", "--otp", code(step))
    check(rc == 0 and "opened the metrics door" in out and "opened the postgres door" in out, f"the right code: {rc} {out}")
    check(open_doors() == ["metrics", "postgres"], f"doors after the session: {open_doors()}")
    check(not glob.glob("/tmp/sms-bridge-otp.*"), "the session's temporary directory was left behind")
    # Closing needs no code, so stopping asks for none, terminal or not.
    rc, out = session.script("stop-monitoring.sh")
    check(rc == 0 and "closed the metrics door" in out and "closed the postgres door" in out and "one-time code" not in out,
          f"stop-monitoring.sh: {rc} {out}")
    check(open_doors() == [], f"doors after the stop: {open_doors()}")
    # On a terminal the script asks when the server wants a code.
    leader, follower = pty.openpty()
    p = subprocess.Popen(["ip", "netns", "exec", site.laptop, "env", f"PATH={session.path}", "bash",
                          os.path.join(session.dir, "scripts", "monitoring-session.sh"), "--minutes", "15"],
                         stdin=follower, stdout=follower, stderr=follower, start_new_session=True,
                         preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))  # the pty is its terminal
    w.processes.append(p)
    os.close(follower)
    seen, deadline, answered = b"", time.monotonic() + 60, False
    while time.monotonic() < deadline and p.poll() is None:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                seen += os.read(leader, 4096)
            except OSError:
                break
        if not answered and b"one-time code for ops:" in seen:
            os.write(leader, (code(step + 1) + "\n").encode())
            answered = True
    p.wait(timeout=30)
    os.close(leader)
    text = seen.decode(errors="replace")
    check(answered and p.returncode == 0 and "opened the metrics door" in text and "opened the postgres door" in text,
          f"monitoring-session.sh on a terminal: {p.returncode} {text}")
    check(open_doors() == ["metrics", "postgres"], f"doors after the session on a terminal: {open_doors()}")


def scenario_laptop_reason(w):
    """--reason reaches the server with each open (any text, JSON-quoted) and is in its audit trail; a
    reason the server refuses stops the session with the server's sentence, nothing left open."""
    session = LaptopSession(w)
    site = session.site
    admin = ("-u", f"ops:{ADMIN_PASSWORD}")
    reason = 'disk alert: "sda" at 97% & rising, é'
    rc, out = session.script("monitoring-session.sh", "--minutes", "15", "--doors", "metrics", "--reason", reason)
    check(rc == 0 and "opened the metrics door" in out, f"monitoring-session.sh --reason: {rc} {out}")
    status, text = site.laptop_curl(f"http://{SERVER_IP}:8080/admin/monitoring/port-status", *admin)
    check(status == 200 and json.loads(text)["metrics"]["reason"] == reason, f"port-status after --reason: {status} {text}")
    status, text = site.laptop_curl(f"http://{SERVER_IP}:8080/admin/monitoring/audit?action=opened", *admin)
    events = json.loads(text)["events"] if status == 200 else []
    check([e["reason"] for e in events] == [reason], f"the audit trail's opens: {status} {text}")
    rc, out = session.script("stop-monitoring.sh")
    check(rc == 0, f"stop-monitoring.sh: {rc} {out}")
    rc, out = session.script("monitoring-session.sh", "--minutes", "15", "--doors", "metrics", "--reason", "two\nlines")
    check(rc == 1 and "control characters" in out, f"a reason with a line break: {rc} {out}")
    status, text = site.laptop_curl(f"http://{SERVER_IP}:8080/admin/monitoring/port-status", *admin)
    check(status == 200 and json.loads(text) == {}, f"the refused session left a door open: {status} {text}")


def scenario_laptop_end_to_end(w):
    """The one-step session, Prometheus and the exporter through its doors, the checks and the stop:
    one chain, as every step needs the live Prometheus of the steps before (about 100 s to start)."""
    session = LaptopSession(w)
    site, pg, laptop, docker_log, script = session.site, session.pg, session.dir, session.docker_log, session.script

    # The one-step session: doors opened for this laptop's address, the export saved, the stack started.
    rc, out = script("monitoring-session.sh", "--minutes", "15")
    check(rc == 0, f"monitoring-session.sh: {rc} {out}")
    check(f"opened the metrics door: port 9100, for {LAPTOP_IP}/32" in out and "opened the postgres door: port 5433" in out
          and "The first door closes at" in out and "(in 14 min" in out, f"the session's report: {out}")
    with open(docker_log) as f:
        calls = f.read().splitlines()
    check(any(c.startswith("compose -f ") and c.endswith(" up -d") and "docker-compose-monitoring.yml" in c for c in calls),
          f"docker was not asked to start the stack: {calls}")
    exported = os.path.join(laptop, "config", "prometheus-remote.yml")
    with open(exported) as f:
        exported_text = f.read()
    check(f"'{SERVER_IP}:9100'" in exported_text and "rule_files" in exported_text, f"the exported config: {exported_text}")
    check("out_of_order_time_window: 7d" in exported_text, f"the exported config has no out-of-order window for the backfill: {exported_text}")

    # What docker-compose-monitoring.yml would run, natively: Prometheus with the exported config and
    # the alert rules where the compose file mounts them, and the exporter with the same variables.
    os.makedirs(os.path.join(laptop, "config", "alerts"))
    shutil.copy(os.path.join(laptop, "prometheus", "alerts.yml"), os.path.join(laptop, "config", "alerts", "sms-bridge.yml"))
    compose = yaml.safe_load(open(os.path.join(LAPTOP, "docker-compose-monitoring.yml")))
    flags = [a for a in compose["services"]["prometheus"]["command"]
             if not a.startswith(("--config.file", "--storage.tsdb.path"))]
    prom = subprocess.Popen(["ip", "netns", "exec", site.laptop, "prometheus", f"--config.file={exported}",
                             f"--storage.tsdb.path={os.path.join(w.tmp, 'prometheus-data')}",
                             *[f.replace("${PROMETHEUS_RETENTION:-7d}", "1d") for f in flags]],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(w.tmp, "prometheus.log"), "w"))
    w.processes.append(prom)
    env = dict(l.split("=", 1) for l in open(os.path.join(laptop, ".env")).read().splitlines() if re.match(r"^[A-Z_]+=", l))
    exporter_env = {k: re.sub(r"\$\{(\w+)(?::-([^}]*))?(?::\?[^}]*)?\}", lambda m: env.get(m.group(1)) or (m.group(2) or ""), v)
                    for k, v in compose["services"]["postgres-exporter"]["environment"].items()}
    exporter = subprocess.Popen(["ip", "netns", "exec", site.laptop, "prometheus-postgres-exporter",
                                 *compose["services"]["postgres-exporter"]["command"]],
                                env=dict(os.environ, **exporter_env), stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(w.tmp, "exporter.log"), "w"))
    w.processes.append(exporter)

    # Within two scrape intervals (15 s) the server's metrics job is up; the exporter logs in.
    rounds = iter(range(1, 1000))
    traffic = lambda: site.sms_traffic(next(rounds))
    traffic()
    wait_for("the sms_bridge target to be up", lambda: targets(site).get("sms_bridge") == "up", 30, traffic)
    wait_for("pg_up == 1", lambda: [r["value"][1] for r in prometheus_query(site, "pg_up")] == ["1"], 60)
    # Rates need two samples of every series: two scrapes of each job after the traffic began.
    wait_for("two scrapes of each job",
             lambda: all(float(r["value"][1]) >= 2 for r in prometheus_query(site, "count_over_time(up[5m])")), 90, traffic)

    # Every dashboard query and every alert expression returns data from the live Prometheus.
    empty = []
    for title, queries in dashboard_queries().items():
        for panel, expr in queries:
            if not prometheus_query(site, expr):
                empty.append(f"{title} / {panel}: {expr}")
    for alert, expr in alert_queries():
        if not prometheus_query(site, expr):
            empty.append(f"alert {alert}: {expr}")
    check(not empty, "queries without data:\n  " + "\n  ".join(empty))
    print(f"{sum(len(q) for q in dashboard_queries().values())} dashboard queries and {len(alert_queries())} alert "
          "expressions returned data")
    status, text = site.laptop_curl("http://127.0.0.1:9090/api/v1/rules")
    rules = [r for g in json.loads(text)["data"]["groups"] for r in g["rules"]]
    check(len(rules) == len(alert_queries()) and all(r["health"] == "ok" for r in rules),
          f"alert rules loaded from the export's rule_files: {[(r['name'], r['health']) for r in rules]}")

    # check-monitoring.sh, against the real Prometheus and a stand-in for Grafana's /api/health.
    grafana_root = os.path.join(w.tmp, "grafana-stand-in")
    os.makedirs(os.path.join(grafana_root, "api"))
    with open(os.path.join(grafana_root, "api", "health"), "w") as f:
        f.write('{"database": "ok"}')
    grafana = subprocess.Popen(["ip", "netns", "exec", site.laptop, sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                                "--directory", grafana_root, "3000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    w.processes.append(grafana)
    wait_for("the Grafana stand-in", lambda: site.laptop_curl("http://127.0.0.1:3000/api/health")[0] == 200, 10)
    rc, out = script("check-monitoring.sh")
    check(rc == 0 and "All well." in out and "sms_bridge up" in out, f"check-monitoring.sh: {rc} {out}")

    # stop-monitoring.sh closes the doors the session opened and stops the stack; the targets go down.
    rc, out = script("stop-monitoring.sh")
    check(rc == 0 and "closed the metrics door" in out and "closed the postgres door" in out, f"stop-monitoring.sh: {rc} {out}")
    with open(docker_log) as f:
        check(f.read().splitlines()[-1].endswith(" down"), "docker was not asked to stop the stack")
    check(not os.path.exists(os.path.join(laptop, ".session-doors")), "the session file outlived the stop")
    wait_for("the sms_bridge target to go down", lambda: targets(site).get("sms_bridge") == "down", 40)
    wait_for("pg_up == 0", lambda: [r["value"][1] for r in prometheus_query(site, "pg_up")] == ["0"], 70)
    rc, out = script("check-monitoring.sh")
    check(rc == 1 and "a target is down" in out, f"check-monitoring.sh with the doors closed: {rc} {out}")
    # The audit trail has both doors opened and closed by the session's admin.
    rows = pg.psql("SELECT service || ':' || action || ':' || coalesce(closed_by, opened_by) FROM monitoring_port_access "
                   "ORDER BY id").stdout.split()
    check(sorted(rows) == sorted(["metrics:opened:ops", "postgres:opened:ops", "metrics:closed:ops", "postgres:closed:ops"]),
          f"the audit trail: {rows}")


def start_laptop_prometheus(w, site, config):
    """The laptop's Prometheus as docker-compose-monitoring.yml runs it (its flags, the remote-write
    receiver included), natively in the laptop namespace; returns once it answers."""
    compose = yaml.safe_load(open(os.path.join(LAPTOP, "docker-compose-monitoring.yml")))
    flags = [a for a in compose["services"]["prometheus"]["command"] if not a.startswith(("--config.file", "--storage.tsdb.path"))]
    check("--web.enable-remote-write-receiver" in flags, f"the compose file's Prometheus takes no remote write: {flags}")
    prom = subprocess.Popen(["ip", "netns", "exec", site.laptop, "prometheus", f"--config.file={config}",
                             f"--storage.tsdb.path={os.path.join(w.tmp, 'prometheus-data')}",
                             *[f.replace("${PROMETHEUS_RETENTION:-7d}", "7d") for f in flags]],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(w.tmp, "prometheus.log"), "w"))
    w.processes.append(prom)
    wait_for("the laptop Prometheus", lambda: site.laptop_curl("http://127.0.0.1:9090/-/ready")[0] == 200, 60)
    return prom


def daemon_counter(site, series):
    """The value of one series in the server's own /metrics, read inside the server namespace."""
    text = site.ns(site.server, "curl", "-s", "http://127.0.0.1:9464/metrics").stdout
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[1])
    return 0.0


def scenario_laptop_backfill(w):
    """The hours the doors were closed reach the laptop's Prometheus: SMS traffic with every door
    closed (the server samples each second), then monitoring-session.sh downloads the history through
    the metrics door and pushes it into the laptop's running Prometheus. query_range over the closed
    time gives the daemon's counter, in one series with the live scrape's labels, marked as
    backfilled; a second session fetches only what is new."""
    session = LaptopSession(w, api_env={"SMS_BRIDGE_HISTORY_INTERVAL_SECONDS": "1"})
    site, laptop, script = session.site, session.dir, session.script
    series = 'sms_bridge_sms_received_total{status="received"}'
    # The laptop's stack is already running (with the template filled in for this server).
    config = os.path.join(laptop, "config", "prometheus-remote.yml")
    with open(os.path.join(laptop, "config", "prometheus-remote.yml.template")) as f:
        template = f.read()
    with open(config, "w") as f:
        f.write(template.replace("SERVER_ADDRESS", SERVER_IP))
    start_laptop_prometheus(w, site, config)
    # Traffic with the doors closed: nothing can scrape it, the server's history records it.
    status, text = site.laptop_curl(f"http://{SERVER_IP}:8080/admin/monitoring/port-status", "-u", f"ops:{ADMIN_PASSWORD}")
    check(status == 200 and json.loads(text) == {}, f"a door was open before the session: {status} {text}")
    closed_from = time.time()
    readings = []
    for n in range(1, 21):
        site.sms_traffic(n)
        time.sleep(1)
        readings.append((time.time(), daemon_counter(site, series)))
    time.sleep(2)  # the last tick of the closed time is sampled
    closed_until = time.time()
    final = daemon_counter(site, series)
    check(final == 20, f"the daemon counted {final} SMS, not 20")

    rc, out = script("monitoring-session.sh", "--minutes", "15")
    check(rc == 0 and "warning" not in out and "backfill: backfilled" in out, f"monitoring-session.sh: {rc} {out}")
    query = lambda expr, start, end: json.loads(site.laptop_curl(
        "http://127.0.0.1:9090/api/v1/query_range?" + urllib.parse.urlencode(
            {"query": expr, "start": str(int(start)), "end": str(int(end) + 1), "step": "1"}))[1])["data"]["result"]
    got = query(series.replace("{", '{job="sms_bridge",'), closed_from, closed_until)
    check(len(got) == 1, f"the counter over the closed time is {len(got)} series, not 1: {got}")
    check(got[0]["metric"].get("instance") == f"{SERVER_IP}:9100" and got[0]["metric"].get("door") == "metrics",
          f"the backfilled series lacks the live scrape's labels: {got[0]['metric']}")
    values = {int(float(t)): float(v) for t, v in got[0]["values"]}
    check(len(values) >= 18, f"only {len(values)} points over the {closed_until - closed_from:.0f} s the doors were closed")
    check(list(values.values()) == sorted(values.values()) and max(values.values()) == final,
          f"the backfilled counter does not climb to the daemon's {final}: {values}")
    # At each whole second (a step of the range) after the daemon was read, Prometheus shows what
    # the daemon had counted by then, give or take the one-second sampling (an SMS a second).
    for when, counted in readings[:-1]:
        at = values.get(int(when) + 1)
        check(at is not None and counted - 2 <= at <= counted + 1, f"at {when:.0f} the daemon had {counted}, Prometheus shows {at}")
    marker = query('sms_bridge_history_backfilled{job="sms_bridge"}', closed_from, closed_until)
    check(len(marker) == 1 and len(marker[0]["values"]) >= 18, f"the backfilled times are not marked: {marker}")
    # ...and only those: the marker ends after the last backfilled tick, not 5 minutes later.
    with open(os.path.join(laptop, ".history-backfill.json")) as f:
        backfilled_until = json.load(f)["newest_ms"] / 1000
    after = query('sms_bridge_history_backfilled{job="sms_bridge"}', backfilled_until + 1, time.time())
    check(not after, f"the marker runs on past the backfilled time ({backfilled_until:.3f}) into the live scrape: {after}")
    doubled = query('count by (__name__) ({__name__=~"sms_bridge_sms_received_total|pg_stat_database_xact_commit", status=~"received|"})',
                    closed_from, time.time())
    check(all(float(v) == 1 for r in doubled for _, v in r["values"]), f"a series is doubled: {doubled}")
    rc, out = script("check-monitoring.sh")
    check("backfilled " in out and "backfilled sample times" in out, f"check-monitoring.sh does not report the backfill: {out}")

    # A second session after another closed spell fetches only what is new, and leaves out the
    # times the first session scraped live: the history has them too, at every second.
    raw = lambda expr: json.loads(site.laptop_curl("http://127.0.0.1:9090/api/v1/query?" + urllib.parse.urlencode(
        {"query": f"{expr}[10m]", "time": f"{time.time():.3f}"}))[1])["data"]["result"]
    live = []
    for _ in range(60):  # the job scrapes every 15 s: three scrapes within 45 s
        live = [float(t) for r in raw('up{job="sms_bridge"}') for t, v in r["values"] if v == "1"]
        if len(live) >= 3:
            break
        time.sleep(1)
    check(len(live) >= 3, f"the first session scraped the server {len(live)} times, not 3")
    shot = os.environ.get("BACKFILL_SCREENSHOT")  # a picture for the laptop README: gap, then live
    if shot:
        span = int(time.time() - closed_from) + 20
        exprs = [series.replace("{", '{job="sms_bridge",'), 'sms_bridge_history_backfilled{job="sms_bridge"}']
        query_string = "&".join(f"g{i}.expr={urllib.parse.quote(e)}&g{i}.tab=0&g{i}.range_input={span}s" for i, e in enumerate(exprs))
        subprocess.run(["ip", "netns", "exec", site.laptop, "chromium", "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", "--window-size=1200,1420", "--virtual-time-budget=10000", f"--screenshot={shot}",
                        f"http://127.0.0.1:9090/graph?{query_string}"], capture_output=True, timeout=90)
    with open(os.path.join(laptop, ".history-backfill.json")) as f:
        first = json.load(f)
    rc, out = script("stop-monitoring.sh")
    check(rc == 0, f"stop-monitoring.sh: {rc} {out}")
    for n in range(21, 26):
        site.sms_traffic(n)
        time.sleep(1)
    time.sleep(2)
    rc, out = script("monitoring-session.sh", "--minutes", "15")
    check(rc == 0 and "backfill: backfilled" in out, f"the second monitoring-session.sh: {rc} {out}")
    with open(os.path.join(laptop, ".history-backfill.json")) as f:
        second = json.load(f)
    check(second["newest_ms"] > first["newest_ms"] and len(second["spans"]) == len(first["spans"]) + 1
          and second["spans"][-1][0] > first["newest_ms"], f"the second session's spans: {first} then {second}")
    got = query(series.replace("{", '{job="sms_bridge",'), closed_from, time.time())
    check(len(got) == 1 and max(float(v) for _, v in got[0]["values"]) == 25, f"after the second session: {got}")
    stored = [float(t) for r in raw(series.replace("{", '{job="sms_bridge",')) for t, _ in r["values"]]
    during = [t for t in stored if live[0] <= t <= live[-1]]
    check(during and all(any(abs(t - l) < 0.002 for l in live) for t in during),
          f"between {live[0]:.3f} and {live[-1]:.3f} the counter has samples that no live scrape took: "
          f"{sorted(set(during) - set(live))[:10]} (live scrapes at {live})")
    check("samples of times the laptop Prometheus scraped live" in out, f"the second session did not leave out the live times: {out}")


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}


def main():
    def missing(args):
        tools = ["docker-compose", "promtool", "shellcheck", "systemd-analyze", "readelf", "ldd", "dpkg"]
        if args.scenario in ("laptop_end_to_end", "laptop_backfill"):
            tools += ["prometheus", "prometheus-postgres-exporter"]
        elif args.scenario != "laptop_bad_duration":
            return absent_tools(*tools)
        return absent_tools(*tools, "psql", "curl", "ip", "runuser") + missing_server()  # the server's stack
    return integration_main(__doc__, SCENARIOS, lambda args: World(os.path.abspath(args.build_dir), "sms-bridge-deploy-"), missing)

if __name__ == "__main__":
    sys.exit(main())
