"""Make a folder of predictors as a run of popnas at some commit saved them, with the
candidates they scored, for tests/test_predictors.py's test that an old run's predictors
still reload and score as they did.

    git worktree add --detach /tmp/popnas-old <commit>
    PYTHONPATH=/tmp/popnas-old python tests/data/make_saved_predictors.py tests/data/predictors-<commit>

The predictors are fitted on the synthetic two steps of tests/test_predictors.py (its
`two_steps`, with latencies), once per accuracy kind given on the command line.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from popnas_steps import predictors as P
from popnas_steps.config import validate
from tests.test_predictors import DATA, OPS, REINDEX, SPEC, two_steps


def main() -> None:
    out, kinds = Path(sys.argv[1]), sys.argv[2:] or ["ridge_ops"]
    import popnas_steps

    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=Path(popnas_steps.__file__).parent, capture_output=True, text=True
    ).stdout.strip()
    trained, b2 = two_steps()
    trained = trained.assign(latency_ms=np.linspace(0.1, 0.5, len(trained)))
    for kind in kinds:
        accuracy = {"model": kind, "members": 2, "epochs": 2} if kind == "lstm" else {"model": kind}
        settings = validate({"predictors": {"time": {"search_iterations": 2}, "accuracy": accuracy}})
        predictors = P.fit_predictors(trained, REINDEX, OPS, SPEC, 3, settings["predictors"], seed=0, data=DATA)
        folder = out / kind
        predictors.save(folder)
        P.score_expansions(predictors, b2[:3]).to_csv(folder / "scored.csv", index=False)
    (out / "made.json").write_text(json.dumps({"commit": commit, "kinds": kinds}, indent=2) + "\n")


if __name__ == "__main__":
    main()
