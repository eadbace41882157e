"""The final training's rules: choose the best cells, and train, evaluate and export one
(popnas_steps.final says what is written, and how a stopped training resumes).

    python -m popnas_steps.cli.final select --settings S --out final/selected.csv TRAINED.csv...
    python -m popnas_steps.cli.final train  --settings S --data results/<run>/data --cell JSON
                                            --out final/<cell_id> [--watch '{"training": {"tensorboard": true}}']

`train` exits 3 when a SLURM time limit stopped it (a rerun resumes), 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from popnas_steps import tables
from popnas_steps.cli.arguments import add_watch_argument, config_from_args
from popnas_steps.config import ConfigError
from popnas_steps.devices import claim_slot, training_deadline
from popnas_steps.exits import bad_input
from popnas_steps.files import output_lock
from popnas_steps.final import finished_final, select_final, train_final
from popnas_steps.space import Cell, CellError
from popnas_steps.worker import retire_workers

REPORTED = ("cell_id", "test_accuracy", "test_macro_f1", "resumed_from_epoch")  # the job log's last line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m popnas_steps.cli.final", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    select = commands.add_parser("select")
    select.add_argument("--settings", required=True)
    select.add_argument("--out", required=True)
    select.add_argument("trained", nargs="+")
    train = commands.add_parser("train")
    train.add_argument("--settings", required=True)
    train.add_argument("--data", required=True)
    train.add_argument("--cell", required=True)
    train.add_argument("--out", required=True)
    add_watch_argument(train)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
        cell = Cell.from_json(args.cell) if args.command == "train" else None
    except (ConfigError, CellError) as error:
        return bad_input(error)
    if args.command == "select":
        with output_lock(args.out):
            selected = select_final(tables.read("trained", *args.trained), config["final"]["top"])
            tables.write("final_selected", selected, args.out)
        return 0
    # An orphan of a killed Snakemake may still be training this cell and writing its
    # checkpoint: wait for it, then resume from what it left.
    with output_lock(Path(args.out) / "metrics.json"):
        return _train(args, config, cell)


def _train(args: argparse.Namespace, config: dict, cell: Cell) -> int:
    finished = finished_final(config, cell, args.data, args.out)
    if finished is not None:  # by the job whose lock this one waited for: 254 epochs are not thrown away
        print(f"popnas: the final training of {cell.cell_id} was finished while this job waited; it is kept")
        print(json.dumps({k: finished[k] for k in REPORTED}))
        return 0
    # Before TensorFlow is imported: one GPU per job on a multi-GPU host, and no idle warm
    # worker of the search holding its memory.
    retire_workers(claim_slot().index)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    from popnas_steps.checkpoints import latest_epoch
    from popnas_steps.train import TimeLimit

    try:
        metrics = train_final(config, cell, args.data, args.out, training_deadline())
    except TimeLimit as stop:
        kept = latest_epoch(Path(args.out) / "checkpoint")
        print(
            f"error: {stop}. The checkpoint in {Path(args.out) / 'checkpoint'} keeps {kept} of "
            f"{config['final']['epochs']} epochs: rerun the same command and the final training resumes "
            f"from epoch {kept + 1}",
            file=sys.stderr,
        )
        return 3
    print(json.dumps({k: metrics[k] for k in REPORTED}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
