"""How an entry point ends when it cannot do its work: one line on stderr, `error: ...`, and
an exit status that says what a rerun will do (docs/architecture.md):

- 2, `bad_input`: the config, a cell, a file or a table is wrong, found before any work is
  spent; the same rerun fails the same way until it is fixed (a damaged file the workflow
  makes again says so);
- 1, `machine_fault`: this machine could not do the work (memory, a disk, a crashed child);
  nothing is recorded as the cell's, and a rerun retries.
"""

from __future__ import annotations

import sys

BAD_INPUT = 2
MACHINE_FAULT = 1


def bad_input(message: object) -> int:
    """Say what is wrong with the input; the exit status of a bad input."""
    print(f"error: {message}", file=sys.stderr)
    return BAD_INPUT


def machine_fault(message: object) -> int:
    """Say what failed on this machine; the exit status of a machine's fault."""
    print(f"error: {message}", file=sys.stderr)
    return MACHINE_FAULT
