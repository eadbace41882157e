"""Shared fixtures: tiny prepared data sets and configs, so tests train in seconds."""

from __future__ import annotations

import numpy as np
import pytest

from popnas_steps.config import validate

from .workflow import run_tiny_search


def tiny_config(**overrides) -> dict:
    """A valid config for tiny networks trained on tiny data."""
    config = {
        "seed": 7,
        "network": {"motifs": 2, "normal_cells": 1, "filters": 4, "batchnorm_momentum": 0.9},
        "training": {"epochs": 2, "first_period": 1, "batch_size": 16, "horizontal_flip": True},
    }
    for key, value in overrides.items():
        if isinstance(value, dict):
            config.setdefault(key, {}).update(value)
        else:
            config[key] = value
    return validate(config)


@pytest.fixture
def latency_measurable(monkeypatch):
    """Validation as where ONNX Runtime is installed, whether or not it is here: for tests of a
    latency objective or cap that read latencies from their tables and measure none."""
    from popnas_steps import runtime

    monkeypatch.setattr(runtime, "latency_unavailable", lambda: None)


@pytest.fixture
def tiny_npz(tmp_path):
    """A 3-class npz of 8x8 RGB images whose class is readable from the mean brightness."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 30)
    x = (rng.integers(0, 60, size=(90, 8, 8, 3)) + 80 * y[:, None, None, None]).astype(np.uint8)
    path = tmp_path / "tiny.npz"
    np.savez(path, x=x, y=y)
    return path


@pytest.fixture
def tiny_data(tmp_path, tiny_npz):
    """The tiny npz prepared into a run's data folder."""
    from popnas_steps.datasets import prepare

    config = tiny_config(dataset={"source": "npz", "path": str(tiny_npz)})
    out = tmp_path / "data"
    prepare(config["dataset"], config["seed"], out)
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The tiny search run locally, killed while training b=1 and resumed: (folder, the
    cells finished at the kill with their result's mtime). Shared by the workflow tests and
    the SLURM test, which compares its run with this one."""
    workdir = tmp_path_factory.mktemp("tiny")
    return workdir, run_tiny_search(workdir)
