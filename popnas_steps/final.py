"""Final training of the best cells (paper 4.3) and their export.

Command line: popnas_steps.cli.final.

`select` takes the top-k cells of the search by validation accuracy (`final.top`).
`train` retrains one from scratch with the final recipe (the search recipe with
`final.epochs` epochs and a first cosine period of `final.first_period`; paper: 254 and
2), evaluates it on the held-out test split and writes into --out, each file atomically
and `metrics.json` last, so that a job stopped at any point leaves no half-written result:
- `model.keras` (Keras) and `saved_model/` (TensorFlow SavedModel with a `serve`
  endpoint, for TF Serving and other runtimes): the network alone, without the
  augmentation layers that `training.augment_on_device` puts before it in training;
- `cell.json` and `history.json` (every epoch);
- `metrics.json`: test accuracy, top-5 accuracy (more than 5 classes), macro F1, confusion
  matrix, the best validation accuracy and the training time;
- with `training.tensorboard`, `tensorboard/`: each epoch's record as TensorBoard scalars,
  written during the training (popnas_steps.events); a resumed training adds to them.
Drawing the cell is the job of a report rule: nothing optional runs in a training job (the
TensorBoard events are written during it, and a failure to write them cannot fail it).

The training keeps a checkpoint of each epoch in `--out/checkpoint/`, so a run stopped by a
kill, a crash or a SLURM time limit resumes from its last completed epoch when the same
command runs again (popnas_steps.checkpoints). In a SLURM job it stops 2 minutes before
the job's end and exits with status 3, saying from which epoch a rerun resumes.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from popnas_steps import provenance, tables
from popnas_steps.devices import placement
from popnas_steps.files import write_folder, write_json, write_text
from popnas_steps.space import Cell


def select_final(trained: pd.DataFrame, top: int) -> pd.DataFrame:
    return tables.best(trained, top)[tables.COLUMNS["final_selected"]]


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


def finished_final(config: dict, cell: Cell, data_dir: str | Path, out_dir: str | Path) -> dict | None:
    """The metrics of `out_dir` if it holds a finished final training of `cell` with this
    recipe on this data (a job left running by a killed Snakemake may finish it while the
    rerun's job waits for its lock), else None."""
    from popnas_steps.datasets import data_sha256

    out = Path(out_dir)
    try:
        metrics = json.loads((out / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    finished = (
        isinstance(metrics, dict)
        and (out / "model.keras").is_file()
        and metrics.get("cell_id") == cell.cell_id
        and metrics.get("settings") == provenance.recipe(config, "final")
        and metrics.get("data_sha256") is not None
        and metrics.get("data_sha256") == data_sha256(data_dir)
    )
    return metrics if finished else None


def train_final(
    config: dict, cell: Cell, data_dir: str | Path, out_dir: str | Path, deadline: float | None = None
) -> dict:
    """Train `cell` with the final recipe, resuming from `out_dir/checkpoint` if a run with the
    same cell, data and recipe left one there; write the model and its metrics."""
    import keras

    from popnas_steps.checkpoints import fingerprint
    from popnas_steps.datasets import load_prepared
    from popnas_steps.macro import NetworkSpec
    from popnas_steps.model import build_model
    from popnas_steps.train import Recipe, train_model

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = load_prepared(data_dir)
    recipe = Recipe.from_config(
        config["training"], epochs=config["final"]["epochs"], first_period=config["final"]["first_period"]
    )
    keras.utils.set_random_seed(config["seed"])
    spec = NetworkSpec(**config["network"])
    model = build_model(cell, data.input_shape, data.num_classes, spec)
    key = fingerprint(
        cell=cell.to_json(),
        data=data.metadata["sha256"],
        seed=config["seed"],
        network=config["network"],
        recipe=recipe.recorded(),  # less the keys added later at their default: old checkpoints resume
    )
    checkpoint = out / "checkpoint"
    tensorboard = out / "tensorboard" if config["training"]["tensorboard"] else None
    measured = train_model(
        model, data, recipe, config["seed"], deadline, checkpoint, key, tensorboard,
        fresh_statistics=spec.recomputes_batchnorm,
    )  # fmt: skip
    probabilities = model.predict(data.test.x, batch_size=256, verbose=0)
    metrics = {
        "cell_id": cell.cell_id,
        "cell": cell.to_list(),
        "epochs": recipe.epochs,
        "resumed_from_epoch": measured["resumed_from_epoch"],
        "val_accuracy": measured["accuracy"],
        "time": measured["time"],
        "params": measured["params"],
        **test_metrics(probabilities, data.test.y),
        "placement": placement(),
        "settings": provenance.recipe(config, "final"),  # what it depends on (popnas_steps.provenance)
        "data_sha256": data.metadata["sha256"],
    }
    # An uncompiled model over the same layers: loads for inference without popnas (the
    # training schedule is a popnas class) and without an optimizer state to carry.
    inference = keras.Model(model.inputs[0], model.outputs[0], name=model.name)
    inference.save(out / "partial-model.keras")
    os.replace(out / "partial-model.keras", out / "model.keras")
    write_folder(out / "saved_model", lambda partial: inference.export(str(partial), verbose=False))
    write_text(out / "cell.json", cell.to_json() + "\n")
    write_json(out / "history.json", measured["history"])
    write_json(out / "metrics.json", metrics)  # last: the mark of a finished training
    shutil.rmtree(checkpoint, ignore_errors=True)
    return metrics
