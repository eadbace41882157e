"""popnas: POPNASv2 as a Snakemake workflow. The library, and one entry point per rule family.

Importing the package sets TensorFlow's C++ log level (its start-up chatter buries the
useful lines of a training log) before any module can import TensorFlow, and notes when
the process started, for the timings of a training job.

Which modules import TensorFlow (at import time): model, train, checkpoints,
accuracy_predictor, predictors. Everything else, the search logic included (operators,
space, macro, features, search, tables, time_predictor, config, datasets, devices, files,
drawing, collect, select_cells, step, report, status), imports without it; train_cell, final
and worker import it only inside the functions that train (a warm worker once, for all its
cells).
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROCESS_START = time.perf_counter()
PROCESS_START_UNIX = time.time()
