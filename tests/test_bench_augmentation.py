"""bench/bench_augmentation.py runs: its tiny mode, in seconds, writes every figure."""

import json


def test_the_augmentation_bench_measures_both_placements_in_its_tiny_mode(tmp_path):
    from bench.bench_augmentation import main

    out = tmp_path / "augmentation.json"
    result = main(["--tiny", "--out", str(out)])
    assert json.loads(out.read_text()) == result
    for key in (
        "pipeline_images_per_second",
        "training_images_per_second_over_t",
        "training_images_per_second_over_fit",
    ):
        assert set(result[key]) == {"pipeline", "device"} and all(v > 0 for v in result[key].values())
        assert result["ratio_device_over_pipeline"][key] > 0
        assert result["paired_ratios_device_over_pipeline"][key]["median"] > 0
    assert result["machine"] and result["date"]
