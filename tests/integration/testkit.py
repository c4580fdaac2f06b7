"""What the integration test scripts share: failures, checks, and the CI rule on prerequisites."""
import os
import sys

SKIP = 77  # ctest's SKIP_RETURN_CODE for these tests


class TestFailure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def missing_prerequisites(missing):
    """Exit code when something the test needs is missing: a failure in CI (CI=true), a skip elsewhere."""
    print(f"SKIP: needs {', '.join(missing)}", file=sys.stderr)
    return 1 if os.environ.get("CI", "").lower() == "true" else SKIP
