"""Left while the test scripts move to the kit package; see kit/core.py."""
from kit.core import *  # noqa: F401,F403
from kit.core import SKIP, TestFailure, absent_tools, check, integration_main, kill_all, missing_prerequisites, run_scenario  # noqa: F401
