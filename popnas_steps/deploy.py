"""Deployment of a trained network: ONNX and LiteRT files, checked against Keras, and timed.

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

Latency (`latency_ms`): the runtime's own time to predict one image (batch 1, a fixed
thread count), after warm-up runs; the median and the spread of the timed runs. It depends
on the architecture, not on the weights.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]  # images (n, H, W, C) float32 -> probabilities (n, classes)


def _input_signature(model):
    import keras

    return [keras.InputSpec(shape=(None, *model.input_shape[1:]), dtype="float32")]


def _export_onnx(model, path: Path, calibration: np.ndarray) -> None:
    model.export(str(path), format="onnx", input_signature=_input_signature(model), verbose=False)


def _onnx_runner(path: Path, threads: int) -> Predict:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.log_severity_level = 3  # errors only
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
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
    "onnx": DeployFormat("model.onnx", ("onnx", "onnxruntime", "tf2onnx"), "onnxruntime", _export_onnx, _onnx_runner),
    "litert": DeployFormat("model.tflite", ("ai_edge_litert",), "ai-edge-litert", _export_litert, _litert_runner),
    "litert_int8": DeployFormat(
        "model_int8.tflite", ("ai_edge_litert",), "ai-edge-litert", _export_litert_int8, _litert_runner
    ),
}


def missing_modules(name: str) -> list[str]:
    """The modules format `name` needs that this environment lacks."""
    return [module for module in DEPLOY_FORMATS[name].modules if importlib.util.find_spec(module) is None]


def unavailable(formats: list[str]) -> dict[str, dict]:
    """Each of `formats` this environment cannot make, with the reason: the packages it lacks."""
    return {
        name: {"status": "unavailable", "reason": f"needs {', '.join(missing)}: pip install 'popnas[deploy]'"}
        for name in formats
        if (missing := missing_modules(name))
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


def latency_ms(predict: Predict, image: np.ndarray, warmup: int, runs: int) -> dict:
    """Median and spread of `runs` timed predictions of one image, after `warmup` untimed ones."""
    batch = np.ascontiguousarray(image[None], dtype=np.float32)
    for _ in range(warmup):
        predict(batch)
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        predict(batch)
        seconds.append(time.perf_counter() - started)
    milliseconds = 1000 * np.array(seconds)
    return {
        "median": float(np.median(milliseconds)),
        "p10": float(np.percentile(milliseconds, 10)),
        "p90": float(np.percentile(milliseconds, 90)),
        "runs": runs,
        "warmup": warmup,
    }


def machine() -> dict:
    return {"node": platform.node(), "processor": platform.machine(), "cpu_count": os.cpu_count()}


def export_and_check(model, test_images: np.ndarray, test_labels: np.ndarray, calibration: np.ndarray,
                     folder: Path, settings: dict) -> dict:  # fmt: skip
    """Export `model` to each format of `settings["formats"]` in `folder`, check each against
    Keras on the test split and time it at batch 1; one entry per format, never raising for
    a format that cannot be made (its `status` and `reason` say why)."""
    results = unavailable(settings["formats"])
    reference = predict_in_chunks(model.predict_on_batch, test_images)
    for name in settings["formats"]:
        if name in results:
            continue
        kind = DEPLOY_FORMATS[name]
        path, partial = folder / kind.file, folder / f"partial-{kind.file}"
        try:
            kind.export(model, partial, calibration)
            os.replace(partial, path)
            predict = kind.runner(path, settings["threads"])
            checked = agreement(reference, predict_in_chunks(predict, test_images), test_labels)
            timed = latency_ms(predict, test_images[0], settings["warmup"], settings["runs"])
        except (MemoryError, OSError):  # the machine's fault, not the format's: the job fails, a rerun retries
            partial.unlink(missing_ok=True)
            raise
        except Exception as error:  # a converter or runtime that cannot take this network
            partial.unlink(missing_ok=True)
            results[name] = {"status": "failed", "reason": f"{type(error).__name__}: {str(error)[:500]}"}
            continue
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
    return results
