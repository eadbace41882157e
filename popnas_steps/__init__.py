"""popnas: POPNASv2 as a Snakemake workflow. The library; the entry points of the rules are
in popnas_steps.cli, which the library never imports (tests/test_layering.py).

Importing the package sets TensorFlow's C++ log level (its start-up chatter buries the
useful lines of a training log) before any module can import TensorFlow, and notes when
the process started, for the timings of a training job.

Only the modules of IMPORTS_TENSORFLOW import TensorFlow when they are imported. Every
other module imports without it, the whole search logic included; model, datasets,
accuracy_predictor, train_cell, final and worker import it inside the functions that build,
train or load networks (a warm worker once, for all its cells).
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROCESS_START = time.perf_counter()
PROCESS_START_UNIX = time.time()

IMPORTS_TENSORFLOW = ("train", "checkpoints", "events")
