from pathlib import Path

import pytest

from popnas_steps.config import ConfigError, load_config, validate

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_are_the_paper_values():
    config = validate({})
    assert config["training"]["epochs"] == 21
    assert config["training"]["learning_rate"] == 0.01
    assert config["training"]["weight_decay"] == 5e-4
    assert (config["network"]["motifs"], config["network"]["normal_cells"], config["network"]["filters"]) == (3, 2, 24)
    assert len(config["search"]["operators"]) == 12
    assert config["dataset"]["source"] == "digits"


def test_embedded_default_config_is_valid():
    config = load_config(ROOT / "config" / "config.yaml")
    assert config["dataset"]["source"] == "digits"


def test_every_schema_property_has_a_default_and_description():
    import yaml

    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())

    def walk(properties, prefix):
        for key, sub in properties.items():
            assert "default" in sub, f"{prefix}{key} has no default"
            assert "description" in sub or "properties" in sub, f"{prefix}{key} has no description"
            walk(sub.get("properties", {}), f"{prefix}{key}.")

    walk(schema["properties"], "")


@pytest.mark.parametrize(
    "config, message",
    [
        ({"training": {"epoch": 3}}, "unknown config key training.epoch"),
        ({"trainig": {}}, "unknown config key trainig"),
        ({"training": {"epochs": "many"}}, "'training.epochs'"),
        ({"training": {"epochs": 0}}, "'training.epochs': 0 is less than the minimum of 1"),
        ({"dataset": {"source": "imagenet"}}, "'dataset.source'"),
        ({"dataset": {"val_fraction": 1.5}}, "'dataset.val_fraction'"),
        ({"network": {"batchnorm_momentum": 1}}, "'network.batchnorm_momentum'"),
    ],
)
def test_bad_config_is_rejected_naming_the_key(config, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        validate(config)


def test_later_files_override_earlier_ones(tmp_path):
    base, overlay = tmp_path / "a.yaml", tmp_path / "b.yaml"
    base.write_text("training:\n  epochs: 3\n  batch_size: 8\n")
    overlay.write_text("training:\n  epochs: 5\n")
    config = load_config(base, overlay)
    assert (config["training"]["epochs"], config["training"]["batch_size"]) == (5, 8)


def test_missing_or_malformed_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml' does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)
