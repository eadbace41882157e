"""Where a search stands and when it should end, read from its artefacts alone (docs/status.md).

    python -m popnas_steps.cli.status [RUN_DIR] [--config FILE...] [--strategy NAME] [--gpus N]
                                      [--as-of B] [--json]

RUN_DIR is results/<run> (default: the `run` of the config, config/config.yaml unless
--config names others). Nothing is written and no lock is taken, so it is safe while a
search runs. `--as-of B` replays what the forecast said right after step B was selected.
K, J, B and the budget are the run's own where its files record them; a warning on stderr
says where the config's differ, or stand in for them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from popnas_steps import tables
from popnas_steps.config import ConfigError, load_config
from popnas_steps.exits import bad_input
from popnas_steps.status import render, search_status
from popnas_steps.strategies import STRATEGIES


def main(argv: list[str] | None = None, now: float | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m popnas_steps.cli.status", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", nargs="?", type=Path, help="results/<run> (default: the config's run)")
    parser.add_argument("--config", nargs="+", default=["config/config.yaml"], help="the run's config file(s)")
    parser.add_argument("--strategy", choices=list(STRATEGIES), help="default: the config's")
    parser.add_argument("--gpus", type=int, default=1, help="trainings at once (--resources gpu=N)")
    parser.add_argument("--as-of", type=int, help="the forecast made right after step B was selected")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args(argv)
    if args.gpus < 1:
        parser.error("--gpus must be at least 1")
    try:
        config = load_config(*args.config)
        status = search_status(args.run_dir or Path("results") / config["run"], config, args.strategy, args.gpus,
                               args.as_of, now)  # fmt: skip
    except (ConfigError, FileNotFoundError, tables.TableError) as error:
        return bad_input(error)
    for warning in status["warnings"]:  # on stderr: --json's output stays one JSON object
        print(f"warning (--config {' '.join(args.config)}): {warning}", file=sys.stderr)
    print(json.dumps(status, indent=2) if args.json else render(status))
    return 0


if __name__ == "__main__":
    sys.exit(main())
