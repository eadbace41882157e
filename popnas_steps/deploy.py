"""Deployment of a trained network: ONNX and LiteRT files, checked against Keras.

Each format is one entry of DEPLOY_FORMATS: the file it writes, the packages it needs
beyond TensorFlow (the `deploy` extra: `pip install "popnas[deploy]"`), how a Keras model
is exported to it, and how its runtime is loaded to predict. An export is checked by
running the file in its runtime on the test split: the share of test images whose top-1
class agrees with Keras', and the largest difference of any class probability.

`litert_int8` is the LiteRT file with post-training integer quantisation (weights and
activations in int8, calibrated on training images; float input and output), for the
devices where int8 is what runs fast: its agreement with Keras is its accuracy loss.

A format whose packages are missing, or whose converter or runtime cannot take the network,
is recorded as such with its reason: it never fails the trained network (the caller runs
after the training's outputs are written).

Each format's runtime also times networks (popnas_steps.timing); the export and the timing
each run in a child process (popnas_steps.children).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from popnas_steps.children import ChildError, run_in_child
from popnas_steps.runtime import missing_reason
from popnas_steps.timing import Predict, latency_ms

__all__ = ["DEPLOY_FORMATS", "ChildError", "export_isolated", "onnx_runner", "remove_exports", "unavailable"]


def _input_signature(model):
    import keras

    return [keras.InputSpec(shape=(None, *model.input_shape[1:]), dtype="float32")]


def _export_onnx(model, path: Path, calibration: np.ndarray) -> None:
    model.export(str(path), format="onnx", input_signature=_input_signature(model), verbose=False)


def onnx_runner(model: Path | bytes, threads: int) -> Predict:
    """ONNX Runtime on this host's CPU, `threads` threads, for a model file or its bytes."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.log_severity_level = 3  # errors only
    source = model if isinstance(model, bytes) else str(model)
    session = onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda images: session.run(None, {name: images})[0]


def _export_litert(model, path: Path, calibration: np.ndarray) -> None:
    model.export(str(path), format="litert", input_signature=_input_signature(model), verbose=False)


def _export_litert_int8(model, path: Path, calibration: np.ndarray) -> None:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image[None]] for image in calibration)
    path.write_bytes(converter.convert())


def _litert_runner(path: Path, threads: int) -> Predict:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    shape = {"batch": 0}

    def predict(images: np.ndarray) -> np.ndarray:
        if shape["batch"] != len(images):  # resized only when the batch changes: timing sees none
            interpreter.resize_tensor_input(source["index"], [len(images), *images.shape[1:]])
            interpreter.allocate_tensors()
            shape["batch"] = len(images)
        interpreter.set_tensor(source["index"], images)
        interpreter.invoke()
        return interpreter.get_tensor(target["index"])

    return predict


@dataclass(frozen=True)
class DeployFormat:
    file: str  # written in the final network's folder
    modules: tuple[str, ...]  # the Python modules it needs beyond TensorFlow
    runtime: str  # the distribution whose version is recorded
    export: Callable  # (Keras model, path, calibration images) -> None
    runner: Callable[[Path, int], Predict]  # (path, threads) -> predict


DEPLOY_FORMATS: dict[str, DeployFormat] = {
    "onnx": DeployFormat("model.onnx", ("onnx", "onnxruntime", "tf2onnx"), "onnxruntime", _export_onnx, onnx_runner),
    "litert": DeployFormat("model.tflite", ("ai_edge_litert",), "ai-edge-litert", _export_litert, _litert_runner),
    "litert_int8": DeployFormat(
        "model_int8.tflite", ("ai_edge_litert",), "ai-edge-litert", _export_litert_int8, _litert_runner
    ),
}


def unavailable(formats: list[str]) -> dict[str, dict]:
    """Each of `formats` this environment cannot make, with the reason: the packages it lacks."""
    return {
        name: {"status": "unavailable", "reason": reason}
        for name in formats
        if (reason := missing_reason(DEPLOY_FORMATS[name].modules))
    }


def runtime_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(DEPLOY_FORMATS[name].runtime)
    except importlib.metadata.PackageNotFoundError:
        return None


def predict_in_chunks(predict: Predict, images: np.ndarray, chunk: int = 256) -> np.ndarray:
    return np.concatenate([predict(images[start : start + chunk]) for start in range(0, len(images), chunk)])


def agreement(reference: np.ndarray, probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """How far an exported model's test predictions are from Keras' (`reference`)."""
    same = reference.argmax(axis=1) == probabilities.argmax(axis=1)
    return {
        "test_images": len(labels),
        "top1_agreement": float(same.mean()),
        "images_disagreeing": int((~same).sum()),
        "max_probability_difference": float(np.abs(reference - probabilities).max()),
        "test_accuracy": float((probabilities.argmax(axis=1) == labels).mean()),
    }


def export_damage(path: Path) -> str | None:
    """Why the export.json at `path` is not a finished export (not JSON, no mapping of format
    to result, an `ok` format without its agreement, test accuracy or latency), or None. What
    the final report reads of it (report.final_table)."""
    try:
        export = json.loads(Path(path).read_text())
    except OSError as error:
        return f"'{path}' cannot be read ({error.strerror})"
    except (ValueError, UnicodeDecodeError) as error:
        return f"'{path}' is not valid JSON (truncated or overwritten?): {error}"
    formats = export.get("formats") if isinstance(export, dict) else None
    if not isinstance(formats, dict) or not all(isinstance(entry, dict) for entry in formats.values()):
        return f"'{path}' is not an export: it holds no mapping of format to result"
    for name, entry in formats.items():
        latency = entry.get("latency_ms")
        timed = isinstance(latency, dict) and "median" in latency
        if entry.get("status") == "ok" and not ({"top1_agreement", "test_accuracy"} <= entry.keys() and timed):
            return f"'{path}': format {name!r} is ok but lacks its agreement, test accuracy or latency"
    return None


def remove_exports(folder: Path) -> list[str]:
    """Remove the files of every format (and their partial ones) from `folder`, and return the
    names removed: an export job starts from none, so no file of an earlier export (another
    model's, after a new recipe, or a format no longer asked for or failed since) stays beside
    an export.json that does not list it."""
    return [name for kind in DEPLOY_FORMATS.values() for name in _remove_format_files(folder, kind)]


def _format_files(folder: Path, kind: DeployFormat) -> tuple[Path, Path]:
    """The file a format makes in `folder`, and the partial one it is written to first."""
    return folder / kind.file, folder / f"partial-{kind.file}"


def _remove_format_files(folder: Path, kind: DeployFormat) -> list[str]:
    """Remove a format's files (whole and partial) from `folder`; the names removed."""
    removed = []
    for path in _format_files(folder, kind):
        if path.is_file():
            path.unlink()
            removed.append(path.name)
    return removed


def export_and_check(model, test_images: np.ndarray, test_labels: np.ndarray, calibration: np.ndarray,
                     folder: Path, settings: dict, each: Callable | None = None) -> dict:  # fmt: skip
    """Export `model` to each format of `settings["formats"]` in `folder`, check each against
    Keras on the test split and time it at batch 1; one entry per format, never raising for
    a format that cannot be made (its `status` and `reason` say why). `each(name, result)` is
    called as each format is done (export_model sends them to its parent)."""
    results = unavailable(settings["formats"])
    reference = predict_in_chunks(model.predict_on_batch, test_images)
    for name in settings["formats"]:
        if name in results:  # unavailable
            if each is not None:
                each(name, results[name])
            continue
        kind = DEPLOY_FORMATS[name]
        path, partial = _format_files(folder, kind)
        try:
            kind.export(model, partial, calibration)
            os.replace(partial, path)
            predict = kind.runner(path, settings["threads"])
            checked = agreement(reference, predict_in_chunks(predict, test_images), test_labels)
            timed = latency_ms(predict, test_images[0], settings)
        except (MemoryError, OSError):  # the machine's fault, not the format's: the job fails, a rerun retries
            partial.unlink(missing_ok=True)
            raise
        except Exception as error:  # a converter or runtime that cannot take this network
            partial.unlink(missing_ok=True)
            results[name] = {"status": "failed", "reason": f"{type(error).__name__}: {str(error)[:500]}"}
        else:
            results[name] = {
                "status": "ok",
                "file": kind.file,
                "bytes": path.stat().st_size,
                **checked,
                "latency_ms": timed,
                "runtime": kind.runtime,
                "runtime_version": runtime_version(name),
                "threads": settings["threads"],
            }
        if each is not None:
            each(name, results[name])
    return results


def export_model(send: Callable, model_file: Path, data_dir: str | Path, settings: dict, seed: int) -> None:
    """Load the trained model at `model_file` and the prepared data, and export_and_check the
    formats of `settings` beside the model, sending each format's (name, result) as it is
    done: export_isolated's child process. Calibration images: `calibration_images` training
    images drawn with `seed`."""
    import keras

    from popnas_steps.datasets import load_prepared

    data = load_prepared(data_dir)
    model = keras.saving.load_model(model_file, compile=False)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(data.train.x), min(settings["calibration_images"], len(data.train.x)), replace=False)
    calibration = data.train.x[np.sort(picks)]
    folder = Path(model_file).parent
    export_and_check(model, data.test.x, data.test.y, calibration, folder, settings, lambda *done: send(done))


def export_isolated(model_file: Path, data_dir: str | Path, settings: dict, seed: int) -> dict:
    """export_model in a child process (run_in_child): one entry per format of `settings`.

    A converter or runtime that crashes natively (an abort, a segfault) ends the child, not
    the job: the format it was making is `failed` with the signal, its files are removed, and
    the formats after it are made in a fresh child. An exception the child raises (the
    machine's: MemoryError, OSError) is raised here as ChildError.
    """
    formats, results = settings["formats"], {}
    while remaining := [name for name in formats if name not in results]:
        sent, death = run_in_child(export_model, model_file, data_dir, {**settings, "formats": remaining}, seed)
        results.update(dict(sent))
        unsent = [name for name in remaining if name not in results]
        if death is None or not unsent:
            break
        _remove_format_files(Path(model_file).parent, DEPLOY_FORMATS[unsent[0]])
        reason = f"the export process died ({death}) while making it: a crash in its converter or runtime"
        results[unsent[0]] = {"status": "failed", "reason": reason}
    return {name: results[name] for name in formats if name in results}
