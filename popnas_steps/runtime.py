"""What this environment can run, asked without importing it: whether the optional packages
of a feature are installed. A leaf, so that config validation can ask before any work is
spent without importing what measures latency or exports models."""

from __future__ import annotations

import importlib.util

LATENCY_MODULES = ("onnx", "onnxruntime")  # what measuring a network's latency imports


def missing_reason(modules: tuple[str, ...]) -> str | None:
    """Why `modules` cannot be used here (those missing, and the extra that has them), or None."""
    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    return f"needs {', '.join(missing)}: pip install 'popnas[deploy]'" if missing else None


def latency_unavailable() -> str | None:
    """Why latency cannot be measured in this environment, or None."""
    return missing_reason(LATENCY_MODULES)
