"""bench/report_search_seeds.py: the comparison over search seeds, read from committed runs."""

import json

import pandas as pd
import pytest

from bench import report_search_seeds as report
from popnas_steps import tables

A = [[-2, "3x3 conv", -2, "identity"]]
B = [[-1, "3x3 conv", -2, "identity"]]


def write_run(steps, rows: list[tuple[int, str, list, float, float]]) -> None:
    """Trained tables from (b, cell id, cell, t, validation accuracy) rows."""
    table = pd.DataFrame(
        [{"cell_id": cell_id, "cell": json.dumps(cell), "b": b, "origin": "pareto", "status": "ok",
          "accuracy": accuracy, "time": t, "params": 10} for b, cell_id, cell, t, accuracy in rows],
        columns=tables.COLUMNS["trained"],
    )  # fmt: skip
    for b, group in table.groupby("b"):
        tables.write("trained", group, steps / f"b{b}" / "trained.csv")


def test_a_cell_reads_minus_1_when_any_of_its_blocks_does():
    assert report.reads_minus_1(json.dumps(B + A)) and not report.reads_minus_1(
        json.dumps(A + [[0, "identity", -2, "identity"]])
    )


def test_random_search_is_reported_stopped_at_popnas_summed_t_with_every_final_seed_of_its_top1(tmp_path):
    write_run(tmp_path / "r" / "popnas", [(0, "e", [], 1.0, 0.1), (1, "a", A, 2.0, 0.5), (2, "p", A * 2, 3.0, 0.8)])
    random_rows = [(0, "e", [], 1.0, 0.1), (1, "a", A, 2.0, 0.5)]
    random_rows += [(2, "x", B * 2, 2.0, 0.6), (2, "y", A * 2, 9.0, 0.9), (2, "z", A * 2, 1.0, 0.95)]
    write_run(tmp_path / "r-random" / "random", random_rows)
    for folder, accuracy in (("final/y", 0.61), ("final_seeds/y/seed-1001", 0.63)):
        (tmp_path / "r-random" / "random" / folder).mkdir(parents=True)
        (tmp_path / "r-random" / "random" / folder / "metrics.json").write_text(json.dumps({"test_accuracy": accuracy}))
    random = report.summarise(tmp_path, "r", ["identity", "3x3 conv"])["random"]
    # POPNASv2 spent 6 s; y starts at 5 s, within it, and z at 14 s, past it
    assert random["networks"] == 4 and random["summed_training_seconds"] == 14.0
    assert random["top1_cell_id"] == "y" and random["top1_test_accuracy"] == {"run": 0.61, "seed-1001": 0.63}
    assert random["share_reading_minus_1_b_ge_2"] == 0.5
    assert random["operator_uses_b_ge_2"] == {"identity": 4, "3x3 conv": 4}


def test_final_tests_are_read_per_seed_folder(tmp_path):
    for folder, accuracy in (("final/x", 0.61), ("final_seeds/x/seed-1001", 0.63), ("final_seeds/x/seed-1002", 0.62)):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "metrics.json").write_text(json.dumps({"test_accuracy": accuracy}))
    assert report.final_tests(tmp_path, "x") == {"run": 0.61, "seed-1001": 0.63, "seed-1002": 0.62}
    assert report.final_tests(tmp_path, "none") == {}


def test_the_goals_compare_popnas_with_pnas_over_seeds_and_with_random_against_the_final_seeds_spread():
    def entry(t, tests, complete=True):
        quality = [{"b": 2, "accuracy_spearman": 0.5, "time_mape": 10.0, "time_spearman": 0.95},
                   {"b": 3, "accuracy_spearman": 0.8, "time_mape": 5.0, "time_spearman": 0.97}]  # fmt: skip
        return {"summed_training_seconds": t, "top1_test_accuracy": dict(enumerate(tests)), "complete": complete,
                "predictor_quality": quality}  # fmt: skip

    seeds = {
        "seed 1": {
            "popnas": entry(100, [0.85, 0.86]),
            "pnas": entry(300, [0.86, 0.86]),
            "random": entry(100, [0.83, 0.84]),
        },
        "seed 2": {
            "popnas": entry(100, [0.84, 0.84]),
            "pnas": entry(200, [0.85, 0.85]),
            "random": entry(100, [0.84, 0.85]),
        },
        "seed 3": {"popnas": entry(100, [0.8]), "pnas": entry(150, [0.8], complete=False), "random": entry(100, [0.9])},
    }
    goals = report.goals(seeds)
    assert goals["search_seeds_complete"] == 2  # seed 3's PNAS has not finished
    assert goals["pnas_over_popnas_summed_t"] == [3.0, 2.0] and goals["pnas_over_popnas_summed_t_mean"] == 2.5
    assert goals["top1_test_popnas_minus_pnas_points"] == pytest.approx(-0.75)
    assert goals["popnas_against_random_at_equal_t"] == [
        {"popnas_minus_random_points": 2.0, "final_seeds_spread_points": 1.0},
        {"popnas_minus_random_points": -0.5, "final_seeds_spread_points": 1.0},
    ]
    assert goals["accuracy_spearman_b_ge_3"] == [0.8, 0.8, 0.8] and goals["time_mape_b_ge_2"][:2] == [10.0, 5.0]
