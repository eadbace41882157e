"""Export a final network for deployment, check it against Keras and time it
(popnas_steps.deploy says what each format is and how it is checked).

    python -m popnas_steps.cli.deploy export --settings S --data results/<run>/data
        --model final/<cell_id>/model.keras --out final/<cell_id>/export.json

Writes the files of `deploy.formats` beside the model and, last, `export.json`: per format,
its status (ok, unavailable, failed, with the reason), the agreement of its test
predictions with Keras', its test accuracy and its latency at batch 1. Exits 0 whatever a
format's fate, 2 on bad input; a missing package is one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from popnas_steps.cli.arguments import config_from_args
from popnas_steps.config import ConfigError
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
        print(f"error: {error}", file=sys.stderr)
        return 2
    model_file = Path(args.model)
    if not model_file.is_file():
        print(f"error: no trained model at '{model_file}'", file=sys.stderr)
        return 2
    with output_lock(args.out):
        return _export(config, model_file, args.data, Path(args.out))


def _export(config: dict, model_file: Path, data_dir: str, out: Path) -> int:
    from popnas_steps.deploy import export_and_check, machine, unavailable

    settings = config["deploy"]
    formats = unavailable(settings["formats"])
    if len(formats) < len(settings["formats"]):  # else nothing to make: no TensorFlow, no data loaded
        import keras

        from popnas_steps.datasets import load_prepared

        data = load_prepared(data_dir)
        model = keras.saving.load_model(model_file, compile=False)
        rng = np.random.default_rng(config["seed"])
        picks = rng.choice(len(data.train.x), min(settings["calibration_images"], len(data.train.x)), replace=False)
        calibration = data.train.x[np.sort(picks)]
        formats = export_and_check(model, data.test.x, data.test.y, calibration, out.parent, settings)
    for name, result in formats.items():
        if result["status"] != "ok":
            print(f"popnas: no {name} export of {model_file.parent.name}: {result['reason']}", file=sys.stderr)
    write_json(out, {"model": model_file.name, "formats": formats, "machine": machine(), "settings": settings})
    return 0


if __name__ == "__main__":
    sys.exit(main())
