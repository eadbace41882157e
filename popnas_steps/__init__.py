"""popnas: POPNASv2 as a Snakemake workflow. The library; the entry points of the rules are
in popnas_steps.cli, which the library never imports (tests/test_layering.py).

Importing the package sets TensorFlow's C++ log level (its start-up chatter buries the
useful lines of a training log) before any module can import TensorFlow, and notes when
the process started, for the timings of a training job.

The one list of what loads TensorFlow (tests/test_layering.py checks both against the
code): the modules of IMPORTS_TENSORFLOW import it when they are imported; those of
LOADS_TENSORFLOW_WHEN_CALLED import it inside the functions that build, train, load or
export networks (a warm worker once, for all its cells). Every other module imports and
runs without it, the whole search logic included.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROCESS_START = time.perf_counter()
PROCESS_START_UNIX = time.time()

IMPORTS_TENSORFLOW = ("train", "checkpoints", "events")
LOADS_TENSORFLOW_WHEN_CALLED = ("accuracy_predictor", "deploy", "final", "model", "readers", "train_cell", "worker")
