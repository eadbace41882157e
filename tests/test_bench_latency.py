import pandas as pd
import pytest

from bench import bench_latency, bench_objectives


def measured(rows: list[tuple[str, float, float]], reference_ms: float) -> dict:
    """One process's measures of a run: {b: {"seconds", "rows"}}, as bench_latency.measure writes them."""
    return {1: {"seconds": 2.0, "rows": [
        {"cell_id": cell_id, "latency_ms": ms, "latency_relative": ms / reference_ms, "measured_ms": own,
         "reference_ms": reference_ms} for cell_id, ms, own in rows
    ]}}  # fmt: skip


def test_repeatability_compares_the_two_processes_network_by_network():
    first = measured([("a", 1.0, 1.0), ("b", 2.0, 2.0)], reference_ms=0.5)
    second = measured([("b", 2.2, 3.0), ("a", 1.0, 1.0)], reference_ms=0.5)  # another order
    figures = bench_latency.repeatability(first, second)
    assert figures["networks"] == 2 and figures["reference_ms"] == [0.5, 0.5]
    assert figures["latency_ms"]["mean_abs_difference_percent"] == pytest.approx(5.0)
    assert figures["latency_ms"]["max_abs_difference_percent"] == pytest.approx(10.0)
    assert figures["measured_ms"]["max_abs_difference_percent"] == pytest.approx(50.0)
    assert figures["measure_seconds"] == [2.0, 2.0]


def test_the_accuracy_latency_front_keeps_what_nothing_beats_in_both():
    trained = pd.DataFrame({
        "cell_id": list("abcde"), "accuracy": [0.9, 0.9, 0.8, 0.85, 0.7], "latency_ms": [2.0, 1.5, 1.0, 1.6, 1.2],
    })  # fmt: skip
    front = bench_objectives.accuracy_latency_front(trained)
    assert front["cell_id"].tolist() == ["b", "c"]  # a: b as accurate and faster; d, e: c faster
    assert bench_objectives._least(trained, 0.85) == 1.5 and bench_objectives._least(trained, 0.95) is None
