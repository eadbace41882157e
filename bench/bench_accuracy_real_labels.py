"""Benchmark: the accuracy predictors judged on real labels, NAS-Bench-301 and NAS-Bench-201 (issue 36).

    nice -n 19 python -m bench.bench_accuracy_real_labels --models ridge_ops ridge_counts ridge_onehot
    nice -n 19 python -m bench.bench_accuracy_real_labels --lstm-splits 10
    nice -n 19 python -m bench.bench_accuracy_real_labels --stored-form --models ridge_ops ridge_counts \
        ridge_onehot --out bench/results/accuracy_real_labels_stored_form.json

The first two made bench/results/accuracy_real_labels.json (the default --out): the second
resumed the first and added lstm (52 minutes on 2 shared cores, all but 15 s of it lstm's 100
fits); the third replays the floors on the benchmarks' own node order, for comparison.
`--benchmarks nb301 nb201`, `--models` (every one), `--splits 20` and `--seed 0` are the
defaults; `--lstm-splits` defaults to --splits.

Every entry of `ACCURACY_MODELS` and the two plain ridge floors are fitted on n labelled
cells of a table of trained architectures (bench/data/README.md) and rank all the others:
Spearman and Kendall (tau-b) against the table's accuracy, mean +- standard error over
seeded random splits. Sizes: NB301 n = 25, 50, 100, 200, 400 (of 725 cells, CIFAR-10
validation accuracy); NB201 n = 50, 100, 200, 500, 1000 (of 15,625, `cifar10-val`).

Resumable: each (model, benchmark, n, split) is written into --out as it finishes, and a
rerun skips those already there, so an interrupted run continues where it stopped and a
new model adds only its own fits. `lstm` (the paper's ensemble, tens of seconds a fit on
two cores) runs on the first --lstm-splits splits only; the summary says how many splits
each figure averages. Each lstm fit leaves about 150 MB in the process (TensorFlow's; Keras'
clear_session does not free it): keep to about 100 lstm fits a command (one benchmark's 5
sizes x 20 splits, with --benchmarks), and rerun to resume.

Splits: split s is one seeded permutation of the table (numpy's default_rng([seed, s])); its
first n cells are the training cells and all the rest are held out, so every model sees the
same splits, and the training cells of a smaller n are among those of a larger one (the
learning curves are paired).

The encoding: each architecture becomes the (B, 2) inputs and operators tensors that every
accuracy predictor reads (`accuracy_predictor.cell_tensors`), from blocks in canonical form
(`space.canonicalize`), as a search gives its predictor a popnas cell. The models need only
an operator's index, so the benchmarks' operators are opaque categories, in their own order
(the NB301 and NB201 lists below), whether or not popnas has them.

- NB301 (the DARTS space): a DARTS node is a popnas block: DARTS input 0 is lookback -2,
  input 1 lookback -1, input 2 + j node j. The normal and the reduction cell are each
  canonicalised as a 4-block cell, then stacked as one 8-block cell: blocks 0-3 the normal
  cell, blocks 4-7 the reduction cell with its references to its own nodes moved up by 4
  and its operators given categories of their own (7-13: operator k of the reduction cell is
  category 7 + k). Both read the same two lookbacks, and no block of one reads a block of
  the other: two disjoint DAGs over the same inputs. The models see every choice of both
  cells; an operator in the reduction cell (two stride-2 cells of the network) counts apart
  from the same operator in the normal cell (all the others). B = 8, 14 operators. Unlike a
  popnas cell, DARTS concatenates all four nodes, not only the unused ones.
- NB201: node 0 (the cell's input) is lookback -1; node 1 = op(node 0) is block 0 with a
  second pair (-1, none), the benchmark's own zero edge; node 2 = op(node 0) + op(node 1) is
  block 1; node 3 sums three edges, so it is two blocks: block 2 = op(node 0) + op(node 1)
  and block 3 = op(node 2) + skip_connect(block 2). Block 3 is the only block no other reads,
  so the popnas cell's output is node 3, as in NB201, and the cell computes exactly NB201's
  sum. The added `none` and `skip_connect` are in every cell (a constant, which a ridge's
  intercept absorbs). B = 4, 5 operators; lookback -2 is never read. Canonical form may
  swap blocks 1 and 2 (and mirror block 3), so a position does not always hold the same
  NB201 edge; --stored-form keeps NB201's node order (and DARTS's), for comparison.

The floors, plain scikit-learn ridges fitted on the same splits (issue 36's table):
`ridge_counts`, RidgeCV on each operator category's count in the cell (what `ridge_ops`
sees, without its logit); `ridge_onehot`, RidgeCV on the one-hot input code and operator
code of every (block, pair) position. Both standardise their columns and choose alpha by
leave-one-out from 1e-3 to 1e5, on the accuracy itself.
"""

from __future__ import annotations

import argparse
import ast
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import ROOT, machine, write_result
from popnas_steps.accuracy_predictor import (
    ACCURACY_MODELS,
    AccuracySettings,
    accuracy_model,
    cell_tensors,
    operator_counts,
)
from popnas_steps.space import canonicalize

DATA = ROOT / "bench" / "data"
NB301_FILE = DATA / "nb301_cifar10_725.json"
NB201_FILE = DATA / "nb201_mini.csv"
NB201_LABEL = "cifar10-val"

# NASLib's compact op indices 0..6, in order.
NB301_OPERATORS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
                   "dil_conv_5x5")  # fmt: skip
NB201_OPERATORS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# `canonicalize` orders blocks by hashes of parsable popnas operator names; these stand in for
# the categories there only (any distinct names give a valid canonical form).
_KEY_NAMES = tuple(f"{k + 1}x{k + 1} conv" for k in range(max(len(NB301_OPERATORS), len(NB201_OPERATORS))))

SIZES = {"nb301": (25, 50, 100, 200, 400), "nb201": (50, 100, 200, 500, 1000)}
FLOOR_ALPHAS = np.logspace(-3, 5, 17)


@dataclass(frozen=True)
class Table:
    """A benchmark's cells as the predictors read them, and their accuracies (fractions)."""

    name: str
    inputs: np.ndarray  # (n, B, 2) input codes
    operators: np.ndarray  # (n, B, 2) operator codes
    accuracy: np.ndarray  # (n,)
    n_operators: int

    @property
    def max_blocks(self) -> int:
        return self.inputs.shape[1]


# --- the encodings -----------------------------------------------------------------------------


def darts_blocks(pairs: list[tuple[int, int]]) -> np.ndarray:
    """A DARTS cell's 8 (input, op) pairs as popnas blocks (4, 4) = [in1, op1, in2, op2]:
    DARTS input i is popnas input i - 2 (0: lookback -2, 1: lookback -1, 2 + j: block j)."""
    if len(pairs) != 8:
        raise ValueError(f"a DARTS cell has 8 (input, op) pairs; got {len(pairs)}")
    rows = np.array(pairs, dtype=np.int16).reshape(4, 4)
    rows[:, [0, 2]] -= 2
    return rows


def nb301_encoded(archs: list[str], canonical: bool = True) -> np.ndarray:
    """NASLib compact encodings `[normal, reduction]` as 8-block cells (n, 8, 4), each cell
    canonical (or as DARTS orders its nodes), the reduction cell's blocks after the normal
    cell's (see the module's docstring)."""
    parsed = [ast.literal_eval(arch) for arch in archs]
    normal = np.stack([darts_blocks(normal) for normal, _ in parsed])
    reduction = np.stack([darts_blocks(reduction) for _, reduction in parsed])
    keys = _KEY_NAMES[: len(NB301_OPERATORS)]
    if canonical:
        normal, reduction = canonicalize(normal, keys)[0], canonicalize(reduction, keys)[0]
    shifted = reduction.copy()
    shifted[:, :, [0, 2]] = np.where(reduction[:, :, [0, 2]] >= 0, reduction[:, :, [0, 2]] + 4, reduction[:, :, [0, 2]])
    shifted[:, :, [1, 3]] += len(NB301_OPERATORS)
    return np.concatenate([normal, shifted], axis=1)


def nb201_blocks(cellstr: str) -> np.ndarray:
    """An NB201 cellstr `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|` as popnas blocks (4, 4), in the
    benchmark's node order (see the module's docstring)."""
    nodes = [
        [edge.split("~") for edge in node.strip("|").split("|")] for node in cellstr.split("+")
    ]  # nodes[k - 1] = [(op, source), ...] of node k
    if [len(node) for node in nodes] != [1, 2, 3] or any(
        int(s) != i for node in nodes for i, (_, s) in enumerate(node)
    ):
        raise ValueError(f"not an NB201 cellstr: {cellstr!r}")
    op = {name: k for k, name in enumerate(NB201_OPERATORS)}
    (e10,), (e20, e21), (e30, e31, e32) = ([op[name] for name, _ in node] for node in nodes)
    return np.array(
        [[-1, e10, -1, op["none"]], [-1, e20, 0, e21], [-1, e30, 0, e31], [1, e32, 2, op["skip_connect"]]],
        dtype=np.int16,
    )


def nb201_encoded(cellstrs: list[str], canonical: bool = True) -> np.ndarray:
    """NB201 cellstrs as canonical 4-block cells (n, 4, 4) (or in the benchmark's node order)."""
    blocks = np.stack([nb201_blocks(text) for text in cellstrs])
    return canonicalize(blocks, _KEY_NAMES[: len(NB201_OPERATORS)])[0] if canonical else blocks


def read_nb301(path: Path = NB301_FILE, canonical: bool = True) -> Table:
    cells = json.loads(Path(path).read_text())["cifar10"]
    archs = list(cells)
    accuracy = np.array([cells[arch]["val_accuracy"] for arch in archs]) / 100
    inputs, operators = cell_tensors(nb301_encoded(archs, canonical), 8)
    return Table("nb301", inputs, operators, accuracy, 2 * len(NB301_OPERATORS))


def read_nb201(path: Path = NB201_FILE, label: str = NB201_LABEL, canonical: bool = True) -> Table:
    table = pd.read_csv(path)
    inputs, operators = cell_tensors(nb201_encoded(table["cellstr"].tolist(), canonical), 4)
    return Table("nb201", inputs, operators, table[label].to_numpy(float) / 100, len(NB201_OPERATORS))


READERS: dict[str, Callable[..., Table]] = {"nb301": read_nb301, "nb201": read_nb201}  # (canonical=...)


# --- the floors --------------------------------------------------------------------------------


def onehot_features(table: Table) -> np.ndarray:
    """The one-hot input code and operator code of every (block, pair) position."""
    n, positions = len(table.inputs), table.max_blocks * 2
    inputs = np.eye(table.max_blocks + 3)[table.inputs.reshape(n, positions)]
    operators = np.eye(table.n_operators + 1)[table.operators.reshape(n, positions)]
    return np.concatenate([inputs.reshape(n, -1), operators.reshape(n, -1)], axis=1)


def _plain_ridge(features: Callable[[Table], np.ndarray]):
    def fit_predict(table: Table, train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
        from sklearn.linear_model import RidgeCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        columns = features(table)
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=FLOOR_ALPHAS))
        return model.fit(columns[train], table.accuracy[train]).predict(columns[test])

    return fit_predict


FLOORS = {
    "ridge_counts": _plain_ridge(lambda table: operator_counts(table.operators, table.n_operators)),
    "ridge_onehot": _plain_ridge(onehot_features),
}


def fit_predict(name: str, table: Table, train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    """Model `name` (an `ACCURACY_MODELS` kind, fitted as a search fits it, or a floor)
    fitted on the cells `train` of `table`, its predictions for the cells `test`."""
    if name in FLOORS:
        return FLOORS[name](table, train, test, seed)
    model = accuracy_model(table.max_blocks, table.n_operators, AccuracySettings(model=name), seed)
    model.fit(table.inputs[train], table.operators[train], table.accuracy[train])
    return model.predict(table.inputs[test], table.operators[test])


def all_models() -> list[str]:
    return [*ACCURACY_MODELS, *FLOORS]


# --- the replay --------------------------------------------------------------------------------


def split(n_cells: int, n: int, index: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split `index`'s n training cells and the held-out rest: a prefix of one seeded permutation."""
    if not 0 < n < n_cells:
        raise ValueError(f"cannot train on {n} of {n_cells} cells and hold out the rest")
    order = np.random.default_rng([seed, index]).permutation(n_cells)
    return order[:n], order[n:]


def key(record: dict) -> tuple[str, str, int, int]:
    return record["model"], record["benchmark"], record["n"], record["split"]


def replay(
    tables: list[Table],
    models: list[str],
    sizes: dict[str, tuple[int, ...]],
    splits: dict[str, int],
    seed: int,
    done: set[tuple[str, str, int, int]],
    record: Callable[[dict], None],
) -> None:
    """Call `record` with each (model, benchmark, n, split) not in `done`: the model fitted on
    the split's training cells, ranking the held-out ones. `splits[model]`: how many splits."""
    from scipy.stats import kendalltau, spearmanr

    for name in models:
        for table in tables:
            for n in sizes[table.name]:
                for index in range(splits[name]):
                    if (name, table.name, n, index) in done:
                        continue
                    train, test = split(len(table.accuracy), n, index, seed)
                    started = time.perf_counter()
                    predicted = fit_predict(name, table, train, test, seed + index)
                    seconds = time.perf_counter() - started
                    truth = table.accuracy[test]
                    record({"model": name, "benchmark": table.name, "n": n, "split": index,
                            "spearman": float(spearmanr(truth, predicted).statistic),
                            "kendall": float(kendalltau(truth, predicted).statistic),
                            "held_out": int(len(test)), "seconds": round(seconds, 2)})  # fmt: skip


def summarise(records: list[dict]) -> list[dict]:
    """Per (benchmark, model, n): Spearman and Kendall, mean and standard error over its splits."""
    frame = pd.DataFrame(records)
    rows = []
    for (benchmark, model, n), group in frame.groupby(["benchmark", "model", "n"], sort=False):
        row = {"benchmark": benchmark, "model": model, "n": int(n), "splits": len(group)}
        for metric in ("spearman", "kendall"):
            values = group[metric].to_numpy(float)
            row[metric] = round(float(values.mean()), 4)
            row[f"{metric}_se"] = (
                round(float(values.std(ddof=1) / np.sqrt(len(values))), 4) if len(values) > 1 else None
            )
        row["seconds_per_fit"] = round(float(group["seconds"].mean()), 2)
        rows.append(row)
    return sorted(rows, key=lambda row: (row["benchmark"], row["model"], row["n"]))


def run(
    out: Path,
    tables: list[Table],
    models: list[str],
    sizes: dict[str, tuple[int, ...]],
    splits: dict[str, int],
    seed: int = 0,
    canonical: bool = True,
) -> dict:
    """The replay into `out`, each result written as it finishes; those already in `out` are kept
    and not refitted. A file made with another seed or encoding is refused (its figures differ)."""
    setup = {"seed": seed, "canonical": canonical}
    result = json.loads(out.read_text()) if out.exists() else {**setup, "records": []}
    if {name: result.get(name) for name in setup} != setup:
        found = {name: result.get(name) for name in setup}
        raise ValueError(f"{out} was made with {found}, not {setup}: choose another --out")
    result |= {
        "machine": machine(),
        "sizes": {**result.get("sizes", {}), **{t.name: list(sizes[t.name]) for t in tables}},
    }
    done = {key(record) for record in result["records"]}

    def record(row: dict) -> None:
        result["records"].append(row)
        result["summary"] = summarise(result["records"])
        write_result(out, result, show=False)
        print(f"{row['benchmark']} {row['model']:>13} n={row['n']:<4} split {row['split']:>2}: spearman "
              f"{row['spearman']:.3f}, kendall {row['kendall']:.3f} ({row['seconds']} s)", flush=True)  # fmt: skip

    replay(tables, models, sizes, splits, seed, done, record)
    result["summary"] = summarise(result["records"]) if result["records"] else []
    write_result(out, result, show=False)
    return result


def learning_curves(summary: list[dict], benchmark: str) -> pd.DataFrame:
    """Model x n: Spearman mean +- s.e., Kendall mean, (splits)."""
    rows = [row for row in summary if row["benchmark"] == benchmark]
    cells = {
        (row["model"], row["n"]): f"{row['spearman']:.3f} ± {row['spearman_se'] or 0:.3f} / {row['kendall']:.3f}"
        + ("" if row["splits"] >= 20 else f" ({row['splits']})")
        for row in rows
    }
    models = list(dict.fromkeys(row["model"] for row in rows))
    sizes = sorted({row["n"] for row in rows})
    return pd.DataFrame([[cells.get((m, n), "") for n in sizes] for m in models], index=models, columns=sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchmarks", nargs="+", choices=list(READERS), default=list(READERS))
    parser.add_argument("--models", nargs="+", choices=all_models(), default=all_models())
    parser.add_argument("--splits", type=int, default=20, help="random splits per size")
    parser.add_argument("--lstm-splits", type=int, help="splits for lstm (default: --splits)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stored-form", action="store_true", help="cells in the benchmark's order, not canonical")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "accuracy_real_labels.json")
    args = parser.parse_args()
    splits = {name: args.splits for name in args.models} | (
        {"lstm": args.lstm_splits} if args.lstm_splits and "lstm" in args.models else {}
    )
    canonical = not args.stored_form
    tables = [READERS[name](canonical=canonical) for name in args.benchmarks]
    try:
        result = run(args.out, tables, args.models, SIZES, splits, args.seed, canonical)
    except ValueError as error:
        parser.error(str(error))
    for name in args.benchmarks:
        print(f"\n{name}: Spearman mean ± s.e. / Kendall mean (splits, where fewer than 20)")
        print(learning_curves(result["summary"], name).to_string())


if __name__ == "__main__":
    main()
