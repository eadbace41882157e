"""Export a final network for deployment, check it against Keras and time it
(popnas_steps.deploy says what each format is and how it is checked).

    python -m popnas_steps.cli.deploy export --settings S --data results/<run>/data
        --model final/<cell_id>/model.keras --out final/<cell_id>/export.json

Removes the files of an earlier export, then writes the files of `deploy.formats` beside the
model and, last, `export.json`: per format, its status (ok, unavailable, failed, with the
reason), the agreement of its test predictions with Keras', its test accuracy and its
latency at batch 1. The formats are made in a child process (deploy.export_isolated): a
native crash of a converter or runtime is that format's failure. Exits 0 whatever a
format's fate, 2 on bad input, 1 where the machine failed; each format not made is one line
on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from popnas_steps.cli.arguments import config_from_args
from popnas_steps.config import ConfigError
from popnas_steps.exits import bad_input, machine_fault
from popnas_steps.files import output_lock, write_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m popnas_steps.cli.deploy", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export")
    export.add_argument("--settings", required=True)
    export.add_argument("--data", required=True)
    export.add_argument("--model", required=True)
    export.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ConfigError as error:
        return bad_input(error)
    model_file = Path(args.model)
    if not model_file.is_file():
        return bad_input(f"no trained model at '{model_file}'")
    with output_lock(args.out):
        return _export(config, model_file, args.data, Path(args.out))


def _export(config: dict, model_file: Path, data_dir: str, out: Path) -> int:
    from popnas_steps.children import ChildError
    from popnas_steps.deploy import export_isolated, remove_exports, unavailable
    from popnas_steps.timing import machine

    settings = config["deploy"]
    removed = remove_exports(model_file.parent)  # only the files this export makes stay beside its export.json
    if removed:
        print(f"removed the files of an earlier export: {', '.join(removed)}", flush=True)
    formats = unavailable(settings["formats"])
    to_make = [name for name in settings["formats"] if name not in formats]
    if to_make:  # else nothing to make: no TensorFlow, no data loaded
        try:  # in a child process: a native crash of a converter or runtime is that format's failure
            made = export_isolated(model_file, data_dir, {**settings, "formats": to_make}, config["seed"])
        except ChildError as error:  # the machine's failure (memory, a disk): the job fails, a rerun retries
            print(error, file=sys.stderr)
            return machine_fault(
                "the export process failed on this machine (its traceback is above); a rerun exports again"
            )
        formats = {name: formats.get(name) or made[name] for name in settings["formats"]}
    for name, result in formats.items():
        if result["status"] != "ok":
            print(f"popnas: no {name} export of {model_file.parent.name}: {result['reason']}", file=sys.stderr)
    write_json(out, {"model": model_file.name, "formats": formats, "machine": machine(), "settings": settings})
    return 0


if __name__ == "__main__":
    sys.exit(main())
