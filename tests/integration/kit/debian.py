"""This machine's Debian archive, for the tests that build a Debian root with mmdebstrap."""
import glob
import re

from kit.core import check


def debian_mirrors(prefix="http"):
    """(main, security) Debian archive URIs this machine's apt uses (deb822 or one-line sources),
    the first whose scheme starts with `prefix` ("http://" where only plain HTTP can be proxied)."""
    uris = []
    for path in glob.glob("/etc/apt/sources.list.d/*.sources") + ["/etc/apt/sources.list"]:
        try:
            text = open(path).read()
        except OSError:
            continue
        uris += re.findall(r"^URIs:\s*(\S+)", text, re.M) + re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s", text, re.M)
    main = next((u for u in uris if u.startswith(prefix) and u.rstrip("/").endswith("/debian")), None)
    security = next((u for u in uris if u.startswith(prefix) and u.rstrip("/").endswith("/debian-security")), None)
    check(main, f"this machine's apt has no {prefix}…/debian mirror in /etc/apt (found {uris}); mmdebstrap needs one")
    return main.rstrip("/"), (security or "http://deb.debian.org/debian-security").rstrip("/")
