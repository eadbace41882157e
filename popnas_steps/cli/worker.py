"""Entry point of the warm workers (popnas_steps.worker): serve one slot, or stop them all.

    python -m popnas_steps.cli.worker --socket PATH [--idle-seconds S]   (started by train_cell jobs)
    python -m popnas_steps.cli.worker --stop                              (by hand)

A worker serves with this command line's training function (cli.train_cell.train_here),
handed to the library's serving loop; jobs start it with SERVE, which they hand to the
library (popnas_steps.worker.train_in_worker), so the library names no entry point.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from popnas_steps.worker import IDLE_SECONDS, serve, stop_workers

SERVE = [sys.executable, "-m", "popnas_steps.cli.worker"]  # the command that serves, less its --socket


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m popnas_steps.cli.worker", description=__doc__.split("\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--socket", help="serve: where to listen (Unix socket); jobs start their workers themselves")
    action.add_argument(
        "--stop", action="store_true", help="end this user's warm workers now (a cell one trains is recorded as failed)"
    )
    parser.add_argument("--idle-seconds", type=float, default=IDLE_SECONDS)
    args = parser.parse_args(argv)
    if args.stop:
        pids = stop_workers()
        print(f"stopped {len(pids)} warm worker(s)" + (f": {' '.join(map(str, pids))}" if pids else ""))
        return 0
    from popnas_steps.cli.train_cell import train_here  # it starts workers with SERVE: imported here, no cycle

    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(128 + signum))
    serve(Path(args.socket), train_here, args.idle_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
