"""Entry point: train one cell on a run's prepared data and write its result.

    python -m popnas_steps.cli.train_cell --config config/config.yaml --data results/default/data
        --cell '[[-1, "3x3 conv", -2, "identity"]]' --out results/default/cells/<cell_id>

Writes into --out: `result.json` (status ok | failed, reason, accuracy a, time t, params,
per-epoch history, timings of each phase, seed, recipe), `history.csv` and `train.log`;
with `training.tensorboard` (in the config, or `--watch '{"training": {"tensorboard": true}}'`
as the workflow passes it), TensorBoard event files in `tensorboard/`.
Exit status:
- 0: a result is written. A failed training (NaN loss, out of memory, any exception while
  building or training, a SLURM job's time limit 2 minutes away) is a `failed` result
  with its reason, so a search records it and goes on;
- 2: a bad config, cell or data folder, found before any work is spent;
- 1 (or the training's own status): the machine failed, not the cell (TensorFlow or CUDA
  does not load, a folder cannot be written: popnas_steps.train_cell.environment_failure).
  No result is written, so a rerun after the repair trains the cell again.

The training runs in a process that this one supervises (popnas_steps.supervisor): the warm
worker of its slot (popnas_steps.worker, with `devices.warm_workers`, which the workflow
turns on outside SLURM), or a child process. A training process killed by a signal (the kernel's
out-of-memory killer, a segmentation fault, a worker stopped with `worker --stop`) is trained
once more in a fresh process, since a kill is as often the machine's fault as the cell's; a
second kill is recorded here as the cell's failed result, with `attempts: 2`.
A job stopped from outside (Snakemake's Ctrl-C, SIGTERM) stops its training process too,
so no orphan writes a result later (a warm worker also ends when its job's connection
closes, even on SIGKILL); a child left running by a killed Snakemake holds the cell's
output lock, so the rerun's job waits for it (files.output_lock).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from popnas_steps.cli.arguments import add_config_arguments, add_watch_argument, config_from_args
from popnas_steps.cli.worker import SERVE
from popnas_steps.config import ConfigError
from popnas_steps.datasets import DatasetError
from popnas_steps.devices import training_deadline
from popnas_steps.exits import bad_input
from popnas_steps.files import output_lock
from popnas_steps.space import Cell, CellError, check_operators
from popnas_steps.supervisor import Commands, supervise
from popnas_steps.train_cell import train_cell

CHILD_FLAG = "--in-this-process"


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as error:
        raise CellError(f"cannot read cell file '{path}': {error.strerror}") from None


def parse(argv: list[str]) -> tuple[argparse.Namespace, dict, Cell]:
    """The arguments, the validated config and the cell; raise ConfigError, CellError or
    DatasetError on bad input."""
    parser = argparse.ArgumentParser(prog="python -m popnas_steps.cli.train_cell", description=__doc__.split("\n")[0])
    add_config_arguments(parser)
    add_watch_argument(parser)
    parser.add_argument("--data", required=True, help="prepared data folder, e.g. results/<run>/data")
    cells = parser.add_mutually_exclusive_group(required=True)
    cells.add_argument("--cell", help="cell JSON, [] for the empty cell")
    cells.add_argument("--cell-file", help="file holding the cell JSON")
    parser.add_argument("--out", required=True, help="output folder for result.json")
    parser.add_argument(CHILD_FLAG, action="store_true", help=argparse.SUPPRESS)  # the supervised child
    args = parser.parse_args(argv)
    config = config_from_args(args)
    cell = Cell.from_json(args.cell if args.cell is not None else _read(args.cell_file))
    if args.config:  # a workflow rule passes only its slice; its cells come from the search
        check_operators(cell, config["search"]["operators"])
    if not (Path(args.data) / "metadata.json").is_file():
        raise DatasetError(
            f"--data '{args.data}' holds no prepared data; run "
            "`python -m popnas_steps.cli.datasets prepare --config CONFIG --out FOLDER` first"
        )
    return args, config, cell


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args, config, cell = parse(argv)
    except (ConfigError, CellError, DatasetError) as error:
        return bad_input(error)
    if args.in_this_process:
        return _train(args, config, cell)
    child = [sys.executable, "-m", "popnas_steps.cli.train_cell", *argv, CHILD_FLAG]
    with output_lock(Path(args.out) / "result.json"):
        return supervise(argv, cell, Path(args.out), config, args.data, Commands(child=child, serve=SERVE))


def train_here(argv: list[str], worker: dict | None = None) -> int:
    """Train the cell of `argv` in this process (a warm `worker`, given a job's arguments)."""
    try:
        args, config, cell = parse(argv)
    except (ConfigError, CellError, DatasetError) as error:
        return bad_input(error)
    return _train(args, config, cell, worker)


def _train(args: argparse.Namespace, config: dict, cell: Cell, worker: dict | None = None) -> int:
    result = train_cell(config, cell, args.data, args.out, training_deadline(), worker=worker)
    summary = {k: result.get(k) for k in ("cell_id", "status", "reason", "accuracy", "time", "params")}
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
