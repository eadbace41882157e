"""Final training of the best cells (paper 4.3) and their export.

    python -m popnas_steps.final select --settings S --out final/selected.csv TRAINED.csv...
    python -m popnas_steps.final train  --settings S --data results/<run>/data --cell JSON --out final/<cell_id>

`select` takes the top-k cells of the search by validation accuracy (`final.top`).
`train` retrains one from scratch with the final recipe (the search recipe with
`final.epochs` epochs and a first cosine period of `final.first_period`; paper: 254 and
2), evaluates it on the held-out test split and writes into --out:
- `metrics.json`: test accuracy, top-5 accuracy (more than 5 classes), macro F1, confusion
  matrix, the best validation accuracy and the training time;
- `model.keras` (Keras) and `saved_model/` (TensorFlow SavedModel with a `serve`
  endpoint, for TF Serving and other runtimes);
- `cell.json` and `cell.png` (the cell drawn as a DAG).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from popnas_steps.collect import read_tables  # noqa: E402
from popnas_steps.config import config_from_args  # noqa: E402
from popnas_steps.devices import claim_gpu, placement  # noqa: E402
from popnas_steps.space import Cell  # noqa: E402


def select_final(trained: pd.DataFrame, top: int) -> pd.DataFrame:
    ok = trained[trained["status"] == "ok"].sort_values(["accuracy", "time"], ascending=[False, True])
    return ok.head(top)[["cell_id", "cell", "b", "origin", "accuracy", "time"]].reset_index(drop=True)


def test_metrics(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    from sklearn.metrics import confusion_matrix, f1_score

    classes = probabilities.shape[1]
    predicted = probabilities.argmax(axis=1)
    metrics = {
        "test_accuracy": float(np.mean(predicted == labels)),
        "test_macro_f1": float(f1_score(labels, predicted, average="macro", labels=range(classes), zero_division=0)),
        "confusion_matrix": confusion_matrix(labels, predicted, labels=range(classes)).tolist(),
        "test_samples": len(labels),
    }
    if classes > 5:
        top5 = np.argsort(probabilities, axis=1)[:, -5:]
        metrics["test_top5_accuracy"] = float(np.mean([label in row for label, row in zip(labels, top5, strict=True)]))
    return metrics


def train_final(config: dict, cell: Cell, data_dir: str | Path, out_dir: str | Path) -> dict:
    import keras

    from popnas_steps.datasets import load_prepared
    from popnas_steps.macro import NetworkSpec
    from popnas_steps.model import build_model
    from popnas_steps.report import draw_cell
    from popnas_steps.train import Recipe, train_model

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = load_prepared(data_dir)
    recipe = Recipe(**{**config["training"], "epochs": config["final"]["epochs"],
                       "first_period": config["final"]["first_period"]})  # fmt: skip
    keras.utils.set_random_seed(config["seed"])
    model = build_model(cell, data.input_shape, data.num_classes, NetworkSpec(**config["network"]))
    measured = train_model(model, data, recipe, config["seed"])
    probabilities = model.predict(data.test.x, batch_size=256, verbose=0)
    metrics = {
        "cell_id": cell.cell_id,
        "cell": cell.to_list(),
        "epochs": recipe.epochs,
        "val_accuracy": measured["accuracy"],
        "time": measured["time"],
        "params": measured["params"],
        **test_metrics(probabilities, data.test.y),
        "placement": placement(),
    }
    # An uncompiled model over the same layers: loads for inference without popnas (the
    # training schedule is a popnas class) and without an optimizer state to carry.
    inference = keras.Model(model.inputs[0], model.outputs[0], name=model.name)
    inference.save(out / "model.keras")
    inference.export(str(out / "saved_model"), verbose=False)
    (out / "cell.json").write_text(cell.to_json() + "\n")
    draw_cell(cell, out / "cell.png")
    (out / "history.json").write_text(json.dumps(measured["history"], indent=2) + "\n")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m popnas_steps.final", description=__doc__.split("\n")[0])
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
    args = parser.parse_args(argv)
    config = config_from_args(args)
    if args.command == "select":
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        select_final(read_tables(args.trained), config["final"]["top"]).to_csv(args.out, index=False)
    else:
        claim_gpu()  # before TensorFlow is imported: one GPU per job on a multi-GPU host
        metrics = train_final(config, Cell.from_json(args.cell), args.data, args.out)
        print(json.dumps({k: metrics[k] for k in ("cell_id", "test_accuracy", "test_macro_f1")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
