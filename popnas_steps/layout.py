"""Where a run's files are: the one place that knows `results/<run>/` (docs/outputs.md).

    results/<run>/data/                      the prepared split (shared by strategies)
    results/<run>/cells/<cell_id>/           one training per cell, whatever step or strategy selected it
    results/<run>/<strategy>/b<b>/           the tables of block step b: selected.csv, trained.csv, ...
    results/<run>/<strategy>/b<b>/predictors the predictors fitted for step b
    results/<run>/<strategy>/final/<id>/     the final training of a best cell
    results/<run>/<strategy>/report/         figures and tables

A cell trains once for the whole run: a PNAS run beside a POPNASv2 run reuses the cells
both selected. The folders and tables are built and parsed here; the rules write their
patterns over these folders, and a cell's own files (job.log, train.log) are its folder's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_STEP = re.compile(r"b(\d+)")


@dataclass(frozen=True)
class RunLayout:
    """The files of one strategy's search in a run folder (results/<run>)."""

    run_dir: Path
    strategy: str

    def __post_init__(self):
        object.__setattr__(self, "run_dir", Path(self.run_dir))

    @classmethod
    def of_steps(cls, steps_dir: str | Path) -> RunLayout:
        """The layout whose steps folder is `steps_dir` (results/<run>/<strategy>)."""
        steps_dir = Path(steps_dir)
        return cls(steps_dir.parent, steps_dir.name)

    @classmethod
    def of_step_file(cls, path: str | Path) -> tuple[RunLayout, int]:
        """The layout and the step of a step's file (results/<run>/<strategy>/b<b>/<file>).
        Raise ValueError for a path outside a run's layout."""
        path = Path(path)
        b = step_number(path.parent)
        if b is None:
            raise ValueError(f"'{path}' is not results/<run>/<strategy>/b<b>/{path.name}: it names no run and step")
        return cls.of_steps(path.parent.parent), b

    @property
    def data(self) -> Path:
        return self.run_dir / "data"

    @property
    def metadata(self) -> Path:
        return self.data / "metadata.json"

    @property
    def cells(self) -> Path:
        return self.run_dir / "cells"

    def cell(self, cell_id: str) -> Path:
        return self.cells / cell_id

    def result(self, cell_id: str) -> Path:
        return self.cell(cell_id) / "result.json"

    @property
    def steps(self) -> Path:
        return self.run_dir / self.strategy

    def step(self, b: int) -> Path:
        return self.steps / f"b{b}"

    def table(self, b: int, name: str) -> Path:
        """A step's table: selected, trained, pareto, exploration, dropped (.csv), candidates (.parquet)."""
        return self.step(b) / (f"{name}.parquet" if name == "candidates" else f"{name}.csv")

    def predictors(self, b: int) -> Path:
        return self.step(b) / "predictors"

    def step_numbers(self, with_file: str | None = None) -> list[int]:
        """The steps that have a folder (and, given `with_file`, that file in it), in order."""
        found = (step_number(path) for path in self.steps.glob("b*/"))
        steps = sorted(b for b in found if b is not None)
        return [b for b in steps if with_file is None or (self.step(b) / with_file).is_file()]

    def step_files(self, name: str) -> dict[int, Path]:
        """Each step's table `name` that exists, by step."""
        return {b: self.table(b, name) for b in self.step_numbers(self.table(0, name).name)}

    def log(self, job: str) -> Path:
        """A job's log, as the rules name it: <strategy>/logs/<job>.log (select_b2, fit_b3, ...)."""
        return self.steps / "logs" / f"{job}.log"

    @property
    def final(self) -> Path:
        return self.steps / "final"

    @property
    def report(self) -> Path:
        return self.steps / "report"


def step_number(folder: str | Path) -> int | None:
    """b of a step's folder named b<b>; None for any other name."""
    match = _STEP.fullmatch(Path(folder).name)
    return int(match.group(1)) if match else None
