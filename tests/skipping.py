"""How a Python test says that (part of) it did not run: ctest shows the test as skipped (SKIP_RETURN_CODE 77,
tests/CMakeLists.txt), never as passed. Under CI (CI=true, which .ci/run sets) a dependency that the README's set-up
installs (bash scripts/bootstrap.sh test) must be there, so its absence fails the test instead."""
import os
import sys

SKIP_RETURN_CODE = 77
_SKIPPED = []


def required_here():
    """True where every dependency the README's set-up installs must be present (CI)."""
    return os.environ.get("CI", "").lower() in ("true", "1")


def skipped(reason, setup_installs_it=True):
    """Record that a part of the test did not run; the test goes on with the rest, and exit_code() says so at the end.
    setup_installs_it: the missing thing is one bootstrap.sh installs (a package, root for a mount), so CI fails."""
    if setup_installs_it and required_here():
        print(f"FAILED: {reason}; under CI the README's set-up provides it, so this is a failure, not a skip")
    else:
        print(f"SKIPPED: {reason}")
    _SKIPPED.append((reason, setup_installs_it))


def skip(reason, setup_installs_it=True):
    """The whole test cannot run: exit now, skipped (or failed, under CI, for what the set-up installs)."""
    skipped(reason, setup_installs_it)
    sys.exit(exit_code(0))


def exit_code(code):
    """The code to exit with after the rest of the test gave `code`: a failure stays one; otherwise a part that did
    not run makes the test skipped, or failed under CI when the set-up installs what was missing."""
    if code != 0:
        return code
    if any(installed and required_here() for _, installed in _SKIPPED):
        return 1
    return SKIP_RETURN_CODE if _SKIPPED else 0
