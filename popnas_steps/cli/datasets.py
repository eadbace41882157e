"""Dataset preparation: one fixed, seeded, stratified train/val/test split per run.

`prepare` reads a source once, checks it, splits it and writes `train.npz`, `val.npz`,
`test.npz` and `metadata.json` into the run's `data/` folder; every training then calls
`load_prepared`, so all networks of a search see exactly the same samples.

Pixels are stored as they come (uint8 where the source is integer-valued, which keeps
CIFAR-sized data small) with `pixel_max` in the metadata; `load_prepared` scales to [0, 1].
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from popnas_steps.datasets import DatasetError, prepare
from popnas_steps.exits import bad_input
from popnas_steps.files import output_lock


def main(argv: list[str] | None = None) -> int:
    from popnas_steps.cli.arguments import add_config_arguments, config_from_args
    from popnas_steps.config import ConfigError

    parser = argparse.ArgumentParser(prog="python -m popnas_steps.cli.datasets")
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="write the run's fixed train/val/test split")
    add_config_arguments(prep)
    prep.add_argument("--out", required=True, help="output folder, e.g. results/<run>/data")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")  # classes found
    try:
        config = config_from_args(args)
        # metadata.json is written last: its lock guards the whole folder
        with output_lock(Path(args.out) / "metadata.json"):
            metadata = prepare(config["dataset"], config["seed"], args.out)
    except (ConfigError, DatasetError) as error:
        return bad_input(error)
    print(json.dumps(metadata["sizes"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
