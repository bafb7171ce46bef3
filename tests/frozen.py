"""`python -m tests.frozen OFFSET module [args...]`: runs `module` as __main__ with its clock moved
OFFSET seconds from the real time (and ticking), so that a server a test starts in a subprocess
lives at the same instant as the frozen test session (see PORTAL_FREEZE_AT in tests/conftest.py).

`frozen_command` builds such a command line when the session is frozen."""

from __future__ import annotations

import runpy
import sys
import time

import time_machine


def frozen_command(command: list[str]) -> list[str]:
    """`command` (a `python -m module ...` line) unchanged, or run through this module at the
    session's instant while the session travels in time."""
    if not time_machine.escape_hatch.is_travelling():
        return command
    python, flag, module, *args = command
    assert flag == "-m", command
    offset = time.time() - time_machine.escape_hatch.time.time()
    return [python, "-m", __name__, repr(offset), module, *args]


def main() -> None:
    offset, module, *args = sys.argv[1:]
    with time_machine.travel(time.time() + float(offset), tick=True):
        sys.argv = [module, *args]
        runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
