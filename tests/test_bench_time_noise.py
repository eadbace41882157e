import json

import numpy as np
import pandas as pd
import pytest

from bench import bench_time_noise
from popnas_steps import tables
from popnas_steps.space import Cell


def test_identical_repeats_leave_no_noise_and_a_perfect_predictor_exact():
    times = np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [4.0, 4.0, 4.0]])
    figures = bench_time_noise.floor_figures(times)
    assert figures["cv_median_percent"] == 0.0 and figures["perfect_predictor_mape_percent"] == 0.0
    assert figures["repeat_spearman_median"] == pytest.approx(1.0) and figures["summed_time_spread_percent"] == 0.0


def test_the_perfect_predictor_is_the_mean_of_the_other_repeats():
    times = np.array([[1.0, 2.0], [4.0, 4.0], [10.0, 3.0]])
    figures = bench_time_noise.floor_figures(times)
    # repeat 1 predicted by repeat 2 and the other way round: |2-1|/1, |1-2|/2, 0, 0, |3-10|/10, |10-3|/3
    assert figures["perfect_predictor_mape_percent"] == pytest.approx((1 + 0.5 + 0 + 0 + 0.7 + 7 / 3) / 6 * 100)
    assert figures["repeat_spearman_median"] == pytest.approx(0.5)  # ranks 1, 2, 3 against 1, 3, 2


def test_a_prediction_is_scored_against_the_recorded_t_and_against_the_repeats_mean():
    times = np.array([[1.0, 3.0], [4.0, 4.0], [5.0, 7.0]])  # repeat means 2, 4, 6
    recorded = np.array([4.0, 2.0, 6.0])  # one noisy measurement: ranks 2, 1, 3
    figures = bench_time_noise.predictor_figures(np.array([2.0, 4.0, 6.0]), recorded, times)
    assert figures["predictor_mape_percent_vs_repeat_mean"] == 0.0
    assert figures["predictor_spearman_vs_repeat_mean"] == pytest.approx(1.0)
    assert figures["predictor_mape_percent_vs_recorded"] == pytest.approx((0.5 + 1.0 + 0.0) / 3 * 100)
    assert figures["predictor_spearman_vs_recorded"] == pytest.approx(0.5)


def test_the_accuracy_floor_is_the_agreement_of_two_seeds_and_scores_the_run_s_predictions():
    accuracies = np.array([[0.50, 0.52], [0.60, 0.58], [0.70, 0.74], [0.80, 0.78]])
    floor = bench_time_noise.accuracy_floor(accuracies, pd.Series([0.9, 0.8, 0.7, 0.6]))
    assert floor["accuracy_repeat_spearman_median"] == pytest.approx(1.0)
    assert floor["accuracy_sd_points_median"] == pytest.approx(100 * 0.02 / np.sqrt(2))  # two repeats 2 points apart
    assert floor["accuracy_within_cell_sd_points_pooled"] == pytest.approx(100 * np.sqrt((3 * 0.02**2 + 0.04**2) / 8))
    assert floor["accuracy_between_cell_sd_points"] == pytest.approx(100 * np.std([0.51, 0.59, 0.72, 0.79], ddof=1))
    assert floor["accuracy_predictor_spearman_vs_recorded"] == pytest.approx(-1.0)
    assert floor["accuracy_predictor_spearman_vs_repeat_mean"] == pytest.approx(-1.0)
    reversed_order = np.array([[0.5, 0.8], [0.6, 0.7], [0.7, 0.6], [0.8, 0.5]])
    shuffled = bench_time_noise.accuracy_floor(reversed_order, pd.Series([None] * 4))
    assert shuffled["accuracy_repeat_spearman_median"] == pytest.approx(-1.0)
    assert not any(key.startswith("accuracy_predictor") for key in shuffled)  # no prediction: b <= 1


def test_the_sample_takes_every_cell_of_a_small_step_and_is_seeded():
    trained = pd.DataFrame({"b": [1] * 10 + [2] * 3, "status": "ok", "time": np.arange(13.0)})
    first = bench_time_noise.sample_cells(trained, 4, seed=0)
    assert first.groupby("b").size().to_dict() == {1: 4, 2: 3}
    assert first.equals(bench_time_noise.sample_cells(trained, 4, seed=0))


def test_steps_with_no_cell_are_refused_before_any_training(tmp_path, capsys):
    row = {"cell_id": Cell().cell_id, "cell": Cell().to_json(), "b": 0, "origin": "b0", "status": "ok",
           "accuracy": 0.5, "time": 1.0, "params": 1, "predicted_accuracy": None, "predicted_time": None,
           "reason": None}  # fmt: skip
    (tmp_path / "popnas" / "b0").mkdir(parents=True)
    tables.write("trained", pd.DataFrame([row]), tmp_path / "popnas" / "b0" / "trained.csv")
    with pytest.raises(SystemExit):
        bench_time_noise.main(["--steps", str(tmp_path / "popnas"), "--config", "config/tiny.yaml", "--b", "3"])
    assert "no successful cell of steps [3]" in capsys.readouterr().err


@pytest.mark.slow
def test_the_noise_bench_retrains_the_cells_of_a_run(tmp_path):
    from popnas_steps.config import load_config
    from popnas_steps.datasets import prepare

    config_file = "config/tiny.yaml"
    config = load_config(config_file)
    run = tmp_path / "run"
    prepare(config["dataset"], config["seed"], run / "data")
    cells = [
        Cell(),
        Cell.from_json([[-1, "3x3 conv", -1, "identity"]]),
        Cell.from_json([[-1, "3x3 conv", -1, "identity"], [0, "identity", -2, "identity"]]),
    ]
    rows = [
        {"cell_id": c.cell_id, "cell": c.to_json(), "b": len(c), "origin": "b1", "status": "ok", "accuracy": 0.5,
         "time": 1.0, "params": 1, "predicted_accuracy": None, "predicted_time": 2.0 if len(c) == 2 else None,
         "reason": None}
        for c in cells
    ]  # fmt: skip
    (run / "popnas" / "b0").mkdir(parents=True)
    tables.write("trained", pd.DataFrame(rows), run / "popnas" / "b0" / "trained.csv")
    out = tmp_path / "noise.json"
    assert bench_time_noise.main(["--steps", str(run / "popnas"), "--config", config_file, "--repeats", "2",
                                  "--b", "1", "2", "--reseed", "--out", str(out)]) == 0  # fmt: skip
    report = json.loads(out.read_text())
    assert set(report["steps"]) == {"b1", "b2"}  # the empty cell's step left out
    assert "predictor_mape_percent_vs_repeat_mean" in report["steps"]["b2"]  # b=2 was predicted, b=1 was not
    assert not any(key.startswith("predictor") for key in report["steps"]["b1"])
    predicted = {cell["b"]: cell["predicted_t"] for cell in report["cells"]}
    assert predicted == {1: None, 2: 2.0}
    assert all(len(cell["repeats_t"]) == 2 and min(cell["repeats_t"]) > 0 for cell in report["cells"])
    assert report["steps"]["b1"]["perfect_predictor_mape_percent"] >= 0
    assert report["reseed"] and all(0 <= a <= 1 for cell in report["cells"] for a in cell["repeats_accuracy"])
    assert report["steps"]["b1"]["accuracy_sd_points_median"] >= 0
