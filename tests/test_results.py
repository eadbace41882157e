import json
import math
from pathlib import Path

import pandas as pd
import pytest

from popnas_steps import tables
from popnas_steps.layout import RunLayout
from popnas_steps.results import ResultError, implausible, read_result, stale_artefacts
from popnas_steps.space import Cell

CELL = Cell.from_json('[[-1, "3x3 conv", -2, "identity"]]')
OTHER = Cell.from_json('[[-1, "identity", -1, "identity"]]')


def stale(run_dir: str | Path, steps_dir: str | Path) -> tuple[set[str], list[str]]:
    """stale_artefacts of the run whose steps folder is `steps_dir` (in `run_dir`)."""
    assert Path(steps_dir).parent == Path(run_dir)
    return stale_artefacts(RunLayout.of_steps(steps_dir))


def good_result(of: Cell = CELL, **changes) -> dict:
    return {"cell_id": of.cell_id, "cell": of.to_list(), "status": "ok", "accuracy": 0.5, "time": 1.0,
            "params": 10, **changes}  # fmt: skip


def write_result(cells_dir: Path, result, folder: str | None = None) -> Path:
    path = cells_dir / (folder or result["cell_id"]) / "result.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))
    return path


# --- read_result --------------------------------------------------------------------------


def test_a_good_result_is_read(tmp_path):
    path = write_result(tmp_path, good_result())
    assert read_result(path) == good_result()
    failed = {"cell_id": OTHER.cell_id, "cell": OTHER.to_list(), "status": "failed", "reason": "NaN loss"}
    assert read_result(write_result(tmp_path, failed))["status"] == "failed"


def test_a_missing_result_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / CELL.cell_id / "result.json"
    with pytest.raises(ResultError, match=f"cannot read result '{path}'"):
        read_result(path)


def test_a_truncated_result_is_an_error_naming_the_file(tmp_path):
    path = write_result(tmp_path, good_result())
    path.write_text(path.read_text()[:25])
    with pytest.raises(ResultError, match=f"result '{path}' is not valid JSON"):
        read_result(path)


def test_binary_garbage_is_an_error_naming_the_file(tmp_path):
    path = write_result(tmp_path, good_result())
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ResultError, match=f"result '{path}' is not valid JSON"):
        read_result(path)


@pytest.mark.parametrize(
    "content",
    [[1, 2, 3], "ok", None, {"cell_id": CELL.cell_id, "status": "ok"}, {"cell": [], "status": "ok"}],
    ids=["list", "string", "null", "no cell", "no cell_id"],
)
def test_json_that_is_not_a_result_is_an_error_naming_the_file(tmp_path, content):
    path = tmp_path / CELL.cell_id / "result.json"
    path.parent.mkdir()
    path.write_text(json.dumps(content))
    with pytest.raises(ResultError, match=f"result '{path}' is not a training result"):
        read_result(path)


def test_a_result_without_a_status_is_an_error(tmp_path):
    result = good_result()
    del result["status"]
    path = write_result(tmp_path, result)
    with pytest.raises(ResultError, match=f"result '{path}' is not a training result"):
        read_result(path)


def test_a_cell_that_does_not_hash_to_its_id_is_an_error(tmp_path):
    path = write_result(tmp_path, good_result(cell=OTHER.to_list()), folder=CELL.cell_id)
    with pytest.raises(ResultError, match=f"result '{path}': its cell hashes to {OTHER.cell_id}, not to its cell_id"):
        read_result(path)


def test_an_invalid_cell_is_an_error_naming_the_file(tmp_path):
    path = write_result(tmp_path, good_result(cell=[[5, "3x3 conv", -1, "identity"]]))
    with pytest.raises(ResultError, match=f"result '{path}' holds no valid cell"):
        read_result(path)


def test_a_result_in_the_folder_of_another_cell_is_an_error(tmp_path):
    path = write_result(tmp_path, good_result(), folder=OTHER.cell_id)
    with pytest.raises(ResultError, match=f"result '{path}' is the result of cell {CELL.cell_id}, not of the cell"):
        read_result(path)


@pytest.mark.parametrize("status", ["running", "OK", None, 1])
def test_a_result_with_a_bad_status_is_an_error(tmp_path, status):
    path = write_result(tmp_path, good_result(status=status))
    with pytest.raises(ResultError, match=f"result '{path}': status {status!r} is neither"):
        read_result(path)


@pytest.mark.parametrize(("key", "value"), [("timings", [1.0, 2.0]), ("timings", "12 s"), ("sharing", 2)])
def test_a_result_whose_timings_or_sharing_is_not_a_mapping_is_an_error(tmp_path, key, value):
    path = write_result(tmp_path, good_result(**{key: value}))
    with pytest.raises(ResultError, match=f"result '{path}': {key} is {type(value).__name__}, not a mapping"):
        read_result(path)


# --- implausible -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"accuracy": math.nan}, "accuracy nan"),
        ({"accuracy": math.inf}, "accuracy inf"),
        ({"accuracy": None}, "accuracy None"),
        ({"accuracy": -0.1}, "accuracy -0.1"),
        ({"accuracy": 1.5}, "accuracy 1.5"),
        ({"accuracy": True}, "accuracy True"),
        ({"accuracy": "0.5"}, "accuracy '0.5'"),
        ({"time": -1.0}, "time -1.0"),
        ({"time": math.nan}, "time nan"),
        ({"time": None}, "time None"),
        ({"params": 10.0}, "params 10.0"),
        ({"params": -1}, "params -1"),
        ({"params": True}, "params True"),
    ],
)
def test_implausible_measurements_are_named(changes, named):
    reason = implausible(good_result(**changes))
    assert reason is not None and reason.startswith("invalid result: ") and named in reason


def test_plausible_and_failed_results_have_no_reason():
    assert implausible(good_result()) is None
    assert implausible(good_result(accuracy=0, time=0, params=0)) is None
    assert implausible(good_result(accuracy=1, time=3)) is None
    assert implausible({"cell_id": "x", "cell": [], "status": "failed", "reason": "NaN loss"}) is None
    assert implausible(good_result(status="failed", accuracy=math.nan)) is None


# --- stale_artefacts ---------------------------------------------------------------------

THIRD = Cell.from_json('[[-2, "2x2 maxpool", -1, "identity"]]')


@pytest.fixture
def run(tmp_path, monkeypatch):
    """A run laid out as the workflow leaves it, with relative paths from the cwd, as the
    Snakefile passes them: b0 collected, b1 selected but not collected, b2 scored."""
    monkeypatch.chdir(tmp_path)
    run, steps = "results/r", "results/r/popnas"
    for cell in (CELL, OTHER, THIRD):
        write_result(Path(run) / "cells", good_result(cell))
    b0, b1, b2 = (Path(steps) / f"b{b}" for b in range(3))
    for folder in (b0, b1, b2):
        folder.mkdir(parents=True)
    b0_selected = tables.selection_table([CELL, OTHER], "b1")
    tables.write("selected", b0_selected, b0 / "selected.csv")
    results = [good_result(CELL), good_result(OTHER)]
    from popnas_steps.collect import trained_table

    tables.write("trained", trained_table(results, b0_selected, 0), b0 / "trained.csv")
    tables.write("latency", latency_table([CELL, OTHER], "ok"), b0 / "latency.csv")
    tables.write("selected", tables.selection_table([THIRD], "exploration"), b1 / "selected.csv")
    candidates = pd.DataFrame({"cell_id": ["a"], "cell": ["[]"], "predicted_accuracy": [0.5], "predicted_time": [1.0]})
    tables.write("candidates", candidates, b2 / "candidates.parquet")
    return run, steps


def latency_table(cells: list[Cell], status: str, reason: str | None = None) -> pd.DataFrame:
    ok = status == "ok"
    return pd.DataFrame({"cell_id": [cell.cell_id for cell in cells], "latency_status": status,
                         "latency_ms": 1.0 if ok else None, "latency_reason": reason},
                        columns=tables.COLUMNS["latency"])  # fmt: skip


def test_nothing_is_stale_in_a_good_run(run):
    assert stale(*run) == (set(), [])


def test_a_damaged_result_is_made_again(run):
    path = f"{run[0]}/cells/{OTHER.cell_id}/result.json"
    Path(path).write_text('{"cell_id": "')
    forced, reasons = stale(*run)
    assert forced == {path}
    assert len(reasons) == 1 and path in reasons[0] and "the cell will be trained again" in reasons[0]


def test_a_damaged_result_of_a_step_not_yet_collected_is_made_again(run):
    path = f"{run[0]}/cells/{THIRD.cell_id}/result.json"
    Path(path).write_text("[]")
    assert stale(*run)[0] == {path}


def test_a_missing_result_of_a_collected_step_makes_its_trained_table_again(run):
    Path(f"{run[0]}/cells/{CELL.cell_id}/result.json").unlink()
    forced, reasons = stale(*run)
    assert forced == {f"{run[1]}/b0/trained.csv"}
    assert len(reasons) == 1 and CELL.cell_id in reasons[0] and f"{run[1]}/b0/trained.csv" in reasons[0]


def test_a_missing_result_of_a_step_not_yet_collected_forces_nothing(run):
    Path(f"{run[0]}/cells/{THIRD.cell_id}/result.json").unlink()
    assert stale(*run) == (set(), [])


def test_a_truncated_parquet_table_is_made_again(run):
    path = Path(f"{run[1]}/b2/candidates.parquet")
    path.write_bytes(path.read_bytes()[:40])
    forced, reasons = stale(*run)
    assert forced == {str(path)}
    assert len(reasons) == 1 and str(path) in reasons[0] and "it will be made again" in reasons[0]


def test_a_csv_table_truncated_inside_a_cell_is_made_again(run):
    path = Path(f"{run[1]}/b0/trained.csv")
    text = path.read_text()
    path.write_text(text[: text.rindex('"identity""') + 3])  # cut inside the last row's quoted cell
    forced, reasons = stale(*run)
    assert forced == {f"{run[1]}/b0/trained.csv"}
    assert len(reasons) == 1 and "trained.csv' cannot be read" in reasons[0]


def test_a_selection_cut_mid_row_that_still_parses_is_made_again(run):
    path = Path(f"{run[1]}/b0/selected.csv")
    text = path.read_text()
    path.write_text(text[: text.rindex(",b1,") + 3])  # its last row lost its empty predictions: still parses
    assert len(pd.read_csv(path)) == 2  # only its checksum tells it was cut
    forced, reasons = stale(*run)
    assert forced == {str(path)}
    assert len(reasons) == 1 and "selected.csv' does not match its checksum" in reasons[0]
    assert reasons[0].endswith("2 rows expected, 2 found: it will be made again")


def test_a_selection_truncated_within_its_header_is_made_again(run):
    Path(f"{run[1]}/b1/selected.csv").write_text("cell_i")
    assert stale(*run)[0] == {f"{run[1]}/b1/selected.csv"}


def test_a_damaged_csv_table_is_made_again(run):
    path = Path(f"{run[1]}/b0/trained.csv")
    path.write_bytes(b"\xff\xfe\x00\x81garbage\n\x00\xff")
    forced, _ = stale(*run)
    assert forced == {f"{run[1]}/b0/trained.csv"}


def test_a_damaged_selection_is_made_again_without_reading_its_results(run):
    path = Path(f"{run[1]}/b1/selected.csv")
    path.write_bytes(b"\xff\xfe\x00\x81garbage\n\x00\xff")
    Path(f"{run[0]}/cells/{THIRD.cell_id}/result.json").write_text("{")
    assert stale(*run)[0] == {f"{run[1]}/b1/selected.csv"}


def test_no_steps_yet_is_nothing_stale(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert stale("results/r", "results/r/popnas") == (set(), [])


def test_a_selection_whose_ids_are_all_digits_is_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cell = Cell.from_json('[[-2, "3x3 dconv", -2, "3x3 dconv"]]')
    assert cell.cell_id.isdigit()  # a CSV reader takes such a column for integers
    write_result(Path("results/r/cells"), good_result(cell))
    tables.write("selected", tables.selection_table([cell], "b1"), "results/r/popnas/b1/selected.csv")
    assert stale("results/r", "results/r/popnas") == (set(), [])
    Path(f"results/r/cells/{cell.cell_id}/result.json").write_text("{")
    assert stale("results/r", "results/r/popnas")[0] == {f"results/r/cells/{cell.cell_id}/result.json"}


def test_a_jobs_wall_counts_its_interpreter_and_is_unknown_without_timings():
    from popnas_steps.results import job_seconds

    assert job_seconds({"timings": {"process_seconds": 4.5, "interpreter_seconds": 0.25}}) == 4.75
    assert job_seconds({"timings": {"process_seconds": 4.5, "interpreter_seconds": None}}) == 4.5  # off Linux
    assert math.isnan(job_seconds({"status": "failed", "reason": "killed by signal 9"}))  # an old crash: no timings


def test_a_crash_result_of_an_earlier_version_without_timings_still_reads(tmp_path):
    from popnas_steps.results import check_results, job_seconds

    old = {"cell_id": CELL.cell_id, "cell": CELL.to_list(), "blocks": 1, "status": "failed",
           "reason": "the training process was killed by signal 9 (SIGKILL) without writing a result"}  # fmt: skip
    new = {**old, "cell_id": OTHER.cell_id, "cell": OTHER.to_list(),
           "timings": {"process_seconds": 3599.5, "interpreter_seconds": 0.5, "started_unix": 1.0,
                       "finished_unix": 3601.0}}  # fmt: skip
    paths = [write_result(tmp_path, old), write_result(tmp_path, new)]
    assert [error for _, error in check_results(paths)] == [None, None]
    results = [read_result(path) for path in paths]
    assert [implausible(result) for result in results] == [None, None]
    assert math.isnan(job_seconds(results[0])) and job_seconds(results[1]) == 3600.0


# --- latency tables and exports ------------------------------------------------------------


def test_a_deleted_latency_table_of_a_collected_step_is_measured_again(run):
    path = f"{run[1]}/b0/latency.csv"
    Path(path).unlink()
    forced, reasons = stale(*run)
    assert forced == {path}
    assert reasons == [f"'{path}' is missing from collected step 'b0': it will be measured again"]


def hide_the_runtime_from_new_interpreters(tmp_path: Path, monkeypatch) -> None:
    """A sitecustomize on PYTHONPATH, as a venv without the deploy extra: an interpreter started
    now finds no onnxruntime."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text('import sys\nsys.modules["onnxruntime"] = None\n')
    monkeypatch.setenv("PYTHONPATH", str(hide))


@pytest.mark.parametrize(
    "status, reason",
    [
        ("missing", "needs onnxruntime: pip install 'popnas[deploy]' (in {python})"),
        ("missing", "needs onnx, onnxruntime: pip install 'popnas[deploy]'"),  # an earlier version's: this python
        ("failed", "ONNX Runtime cannot be loaded: ImportError: libonnxruntime.so.1 (in {python})"),
    ],
)
def test_latencies_measured_without_a_usable_runtime_are_measured_again_once_it_loads(
    run, status, reason, tmp_path, monkeypatch
):
    pytest.importorskip("onnxruntime", reason="the deploy extra is not installed: pip install 'popnas[deploy]'")
    import sys

    path = f"{run[1]}/b0/latency.csv"
    tables.write("latency", latency_table([CELL, OTHER], status, reason.format(python=sys.executable)), path)
    forced, reasons = stale(*run)  # this interpreter loads the runtime
    assert forced == {path}
    assert len(reasons) == 1 and reasons[0].startswith(f"'{path}': its latencies were not measured (")
    assert reasons[0].endswith(f"and {sys.executable} loads ONNX Runtime now: it will be measured again")
    hide_the_runtime_from_new_interpreters(tmp_path, monkeypatch)
    assert stale(*run) == (set(), [])  # still unusable: nothing measured again at every start


def test_a_latency_table_of_another_interpreter_is_asked_of_that_interpreter(run):
    path = f"{run[1]}/b0/latency.csv"
    reason = "needs onnxruntime: pip install 'popnas[deploy]' (in /gone/conda-env/bin/python)"
    tables.write("latency", latency_table([CELL, OTHER], "missing", reason), path)
    assert stale(*run) == (set(), [])  # the jobs' interpreter (--sdm conda) cannot, whatever this one can


def test_latencies_the_runtime_refused_or_crashed_on_are_not_measured_again(run):
    path = f"{run[1]}/b0/latency.csv"
    crashed = "the timing process died (signal 6 (SIGABRT)): a crash in ONNX Runtime"
    refused = "RuntimeError: op Foo is not implemented"
    tables.write("latency", pd.concat([latency_table([CELL], "failed", refused),
                                       latency_table([OTHER], "failed", crashed)]), path)  # fmt: skip
    assert stale(*run) == (set(), [])


def write_export(steps_dir: str, cell_id: str, text: str) -> str:
    path = Path(steps_dir) / "final" / cell_id / "export.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


GOOD_EXPORT = {"model": "model.keras", "formats": {
    "onnx": {"status": "ok", "top1_agreement": 1.0, "test_accuracy": 0.5, "latency_ms": {"ms": 1.0, "median": 1.0}},
    "litert": {"status": "unavailable", "reason": "needs ai_edge_litert: pip install 'popnas[deploy]'"},
}}  # fmt: skip


@pytest.mark.parametrize(
    "text, named",
    [
        ('{"model": "model.keras", "form', "is not valid JSON"),
        ("[]", "holds no mapping of format to result"),
        ('{"formats": {"onnx": "ok"}}', "holds no mapping of format to result"),
        ('{"formats": {"onnx": {"status": "ok"}}}', "format 'onnx' is ok but lacks its agreement"),
    ],
)
def test_a_damaged_export_is_made_again(run, text, named):
    write_export(run[1], CELL.cell_id, json.dumps(GOOD_EXPORT))
    path = write_export(run[1], OTHER.cell_id, text)
    forced, reasons = stale(*run)
    assert forced == {path}
    assert len(reasons) == 1 and path in reasons[0] and named in reasons[0]
    assert reasons[0].endswith("the network will be exported again")
