import json

import numpy as np
import pandas as pd
import pytest

from popnas_steps import drawing, report
from popnas_steps.space import Cell


def trained_steps() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [
        {
            "cell_id": Cell().cell_id,
            "cell": "[]",
            "b": 0,
            "origin": "thrust",
            "status": "ok",
            "accuracy": 0.1,
            "time": 1.0,
            "params": 20,
            "predicted_accuracy": np.nan,
            "predicted_time": np.nan,
        }
    ]
    for b, origin in ((1, "b1"), (2, "pareto"), (2, "exploration"), (3, "pareto")):
        for i in range(4):
            cell = Cell.from_json([[-1, "3x3 conv", -2, "identity"]] * (b - 1) + [[-1, "2x2 maxpool", -1, "identity"]])
            blocks = json.loads(cell.to_json())
            blocks[-1][0] = -2 if i % 2 else -1
            rows.append({
                "cell_id": f"{b}{origin[0]}{i:010d}", "cell": json.dumps(blocks), "b": b, "origin": origin,
                "status": "failed" if (b, i) == (3, 3) else "ok", "accuracy": 0.5 + 0.1 * b + 0.01 * i,
                "time": 2.0 * b + i, "params": 100 * b,
                "predicted_accuracy": np.nan if b < 2 else 0.5 + 0.1 * b + 0.01 * i + rng.normal(0, 0.01),
                "predicted_time": np.nan if b < 2 else 2.0 * b + i + rng.normal(0, 0.2),
            })  # fmt: skip
    table = pd.DataFrame(rows).assign(reason=None)
    table.loc[table["status"] == "failed", ["accuracy", "time", "reason"]] = [np.nan, np.nan, "NaN loss"]
    return table


def test_every_figure_is_written(tmp_path):
    trained = trained_steps()
    report.plot_pareto(trained[trained["b"] == 2], 2, tmp_path / "pareto.png")
    timed = trained.assign(latency_ms=np.linspace(0.1, 0.9, len(trained)))
    timed["predicted_latency"] = np.where(timed["b"] >= 2, 0.5, np.nan)
    report.plot_pareto(timed[timed["b"] == 2], 2, tmp_path / "fronts.png", ("time", "latency", "params"))
    report.plot_predictor(trained, "time", tmp_path / "time.png")
    report.plot_predictor(trained, "accuracy", tmp_path / "accuracy.png")
    report.plot_predictor(timed, "latency", tmp_path / "latency.png")
    report.plot_usage(trained, ["3x3 conv", "identity", "2x2 maxpool"], tmp_path / "usage.png")
    report.plot_anytime({"a": trained, "b": trained.assign(time=trained["time"] * 2)}, tmp_path / "anytime.png")
    report.plot_top_cells(report.top_networks(trained), tmp_path / "cells.png")
    drawing.draw_cell(Cell(), tmp_path / "empty.png")
    assert "in-1" in (tmp_path / "empty.dot").read_text()  # the DOT text beside the drawing, for graphviz
    for name in ("pareto", "fronts", "time", "accuracy", "latency", "usage", "anytime", "cells", "empty"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_usage_counts_both_operators_and_inputs():
    trained = trained_steps()
    ops, inputs = report.usage_counts(trained, ["3x3 conv", "identity", "2x2 maxpool"])
    assert ops.loc[1].to_dict() == {"3x3 conv": 0, "identity": 4, "2x2 maxpool": 4}
    assert inputs.loc[1].to_dict() == {"-2": 2, "-1": 6}
    assert ops.loc[2, "3x3 conv"] == 8 and 0 not in ops.index


def test_summary_and_top_networks():
    trained = trained_steps()
    summary = report.search_summary(trained).iloc[0]
    assert summary["networks"] == 17 and summary["failed"] == 1
    assert summary["top1_accuracy"] == pytest.approx(0.82)
    assert summary["top5_mean_accuracy"] == pytest.approx(np.mean([0.82, 0.81, 0.80, 0.73, 0.73]))
    assert summary["search_time_seconds"] == pytest.approx(trained["time"].sum())
    assert pd.isna(summary["top1_latency_ms"])  # a table without latencies
    timed = trained.assign(latency_ms=np.arange(len(trained), dtype=float))
    best = timed.loc[timed["accuracy"].idxmax()]
    assert report.search_summary(timed).iloc[0][["top1_params", "top1_latency_ms"]].tolist() == [
        best["params"],
        best["latency_ms"],
    ]
    top = report.top_networks(trained, 3)
    assert top["rank"].tolist() == [1, 2, 3] and top["accuracy"].is_monotonic_decreasing
    curve = report.anytime_curve(trained)
    assert curve["best_accuracy"].is_monotonic_increasing and curve["best_accuracy"].iloc[-1] == pytest.approx(0.82)


def test_time_ablation_refits_every_kind(tmp_path):
    from popnas_steps.config import validate
    from popnas_steps.macro import NetworkSpec
    from popnas_steps.work import DataShape

    trained = trained_steps()
    settings = validate({"predictors": {"time": {"search_iterations": 1, "folds": 2}}})["predictors"]
    reindex = {"3x3 conv": 1.0, "identity": 0.0, "2x2 maxpool": 0.3}
    without_shape = report.time_ablation(trained, reindex, list(reindex), NetworkSpec(), settings, 0)
    assert without_shape["model"].tolist() == ["catboost", "nnls", "ridge", "xgboost", "nnls_catboost"]
    table = report.time_ablation(trained, reindex, list(reindex), NetworkSpec(), settings, 0, DataShape((8, 8, 1), 10))
    assert table["model"].tolist() == ["catboost", "nnls", "ridge", "xgboost", "nnls_catboost", "work_nnls"]
    assert {"mape_b2", "spearman_b2", "sum_error_b2", "mape_b3", "spearman_b3", "sum_error_b3"} <= set(table.columns)
    assert (table["mape_b2"] > 0).all()
    assert np.isfinite(table[["sum_error_b2", "sum_error_b3"]].to_numpy()).all()


def test_compare_runs_gives_ratios(tmp_path):
    for strategy, scale in (("popnas", 1.0), ("pnas", 3.0)):
        steps = tmp_path / "run" / strategy
        trained = trained_steps()
        trained["time"] *= scale
        for b, group in trained.groupby("b"):
            (steps / f"b{b}").mkdir(parents=True)
            group.to_csv(steps / f"b{b}" / "trained.csv", index=False)
    summary = report.compare_runs([tmp_path / "run" / "popnas", tmp_path / "run" / "pnas"], tmp_path / "cmp")
    assert summary["search_time_seconds_ratio_to_first"].tolist() == pytest.approx([1.0, 1 / 3])
    # the second run stopped at the first's summed t (one third of its own)
    first_t = summary["search_time_seconds"].iloc[0]
    assert summary["search_time_seconds_at_first_cost"].iloc[0] == first_t
    assert first_t <= summary["search_time_seconds_at_first_cost"].iloc[1] < summary["search_time_seconds"].iloc[1]
    assert summary["networks_at_first_cost"].iloc[1] < summary["networks"].iloc[1]
    assert (tmp_path / "cmp" / "anytime.png").is_file() and (tmp_path / "cmp" / "top_networks.csv").is_file()


def steps_of(times: list[float], accuracies: list[float], b: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"cell_id": [f"c{i}" for i in range(len(times))], "b": b, "status": "ok", "time": times,
                         "accuracy": accuracies})  # fmt: skip


def test_the_equal_cost_stop_trains_until_the_summed_t_is_reached():
    # listed out of step order: the stop follows training order, step by step, each in its table's order
    trained = steps_of([1.0, 5.0, 2.0, 3.0, 4.0], [0.1, 0.9, 0.5, 0.6, 0.7], b=[0, 2, 1, 1, 2])
    assert report.equal_cost_stop(trained, 6.0)["cell_id"].tolist() == ["c0", "c2", "c3"]  # 1+2+3 = 6: stop
    assert report.equal_cost_stop(trained, 6.5)["cell_id"].tolist() == ["c0", "c2", "c3", "c1"]  # c1 started at 6
    assert report.equal_cost_stop(trained, 0.5)["cell_id"].tolist() == ["c0"]
    assert len(report.equal_cost_stop(trained, 1e9)) == 5
    assert report.equal_cost_stop(trained, 0.0).empty
    failed = trained.assign(time=[1.0, 5.0, None, 3.0, 4.0], status=["ok", "ok", "failed", "ok", "ok"])
    assert report.equal_cost_stop(failed, 4.0)["cell_id"].tolist() == ["c0", "c2", "c3"]  # no t: costs none


def test_pnas_runs_have_no_time_predictions_and_still_report(tmp_path):
    from popnas_steps.predictors import predictor_quality

    trained = trained_steps()
    trained["predicted_time"] = np.nan
    quality = predictor_quality(trained)
    assert quality["b"].tolist() == [2, 3] and quality["time_mape"].isna().all()
    assert quality["accuracy_mape"].notna().all()
    report.plot_predictor(trained, "time", tmp_path / "time.png")
    report.plot_predictor(trained, "accuracy", tmp_path / "accuracy.png")
    assert (tmp_path / "time.png").is_file() and (tmp_path / "accuracy.png").is_file()


def test_the_final_table_adds_each_exported_format_beside_the_training(tmp_path):
    from popnas_steps import tables

    for cell_id, exported in (("aaa", True), ("bbb", False)):
        folder = tmp_path / cell_id
        folder.mkdir()
        metrics = {"cell_id": cell_id, "cell": [[-1, "3x3 conv", -1, "identity"]], "params": 10,
                   "val_accuracy": 0.9, "test_accuracy": 0.8, "time": 1.0, "epochs": 2}  # fmt: skip
        (folder / "metrics.json").write_text(json.dumps(metrics))
        if exported:
            old = {"status": "ok", "top1_agreement": 1.0, "test_accuracy": 0.75, "latency_ms": {"median": 0.5}}
            timed = old | {"latency_ms": {"median": 0.5, "ms": 0.4}}  # ms: the least round median, since rounds
            formats = {"onnx": old, "litert_int8": timed, "litert": {"status": "unavailable", "reason": "needs x"}}
            (folder / "export.json").write_text(json.dumps({"formats": formats}))
    table = report.final_table([tmp_path / "aaa" / "metrics.json", tmp_path / "bbb" / "metrics.json"])
    assert list(table.columns) == tables.COLUMNS["final"]
    first, second = table.iloc[0], table.iloc[1]
    assert first["onnx_top1_agreement"] == 1.0 and first["onnx_latency_ms"] == 0.5
    assert first["litert_int8_test_accuracy"] == 0.75 and first["litert_int8_latency_ms"] == 0.4
    assert pd.isna(first["litert_latency_ms"])  # unavailable
    assert second[["onnx_top1_agreement", "litert_latency_ms"]].isna().all()  # trained before any export


@pytest.mark.parametrize(
    "text", ["{trunc", "[]", '{"formats": []}', '{"formats": {"onnx": {"status": "ok", "test_accuracy": 0.5}}}']
)
def test_a_damaged_export_is_an_error_naming_its_file(tmp_path, text):
    metrics = {"cell_id": "aaa", "cell": [[-1, "3x3 conv", -1, "identity"]], "test_accuracy": 0.8}
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    (tmp_path / "export.json").write_text(text)
    with pytest.raises(ValueError, match=r"export\.json.*not a finished export"):
        report.final_table([tmp_path / "metrics.json"])


def test_a_cost_the_trained_table_does_not_carry_is_said_in_its_panel(tmp_path, monkeypatch):
    from popnas_steps import objectives, report

    trained = pd.DataFrame({"cell_id": ["a"], "cell": ["[]"], "b": [2], "origin": ["pareto"], "status": ["ok"],
                            "accuracy": [0.5], "time": [1.0], "params": [10], "predicted_accuracy": [0.5],
                            "predicted_time": [1.0]})  # fmt: skip
    flops = objectives.Objective("flops", "flops", "flops", "multiply-adds", "max_flops", "multiply-adds")
    monkeypatch.setitem(objectives.OBJECTIVES, "flops", flops)
    report.plot_pareto(trained, 2, tmp_path / "pareto.png", ("time", "flops"))
    assert (tmp_path / "pareto.png").read_bytes()[:4] == b"\x89PNG"
