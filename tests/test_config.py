import re
from pathlib import Path

import pytest

from popnas_steps.config import ConfigError, load_config, load_schema, validate

from .workflow import job_counts, snakemake

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
        ({"devices": {"trainings_per_gpu": 0}}, "'devices.trainings_per_gpu': 0 is less than the minimum of 1"),
        ({"devices": {"warm_worker": True}}, "unknown config key devices.warm_worker"),
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


def test_validating_twice_gives_the_same_config():
    once = validate({"search": {"operators": [" 3x3  conv", "identity"], "max_blocks": "2"}, "run": "r1"})
    assert validate(once) == once
    default = validate({})
    assert validate(default) == default


# --- search.operators --------------------------------------------------------------------


def test_operators_are_rewritten_in_canonical_form_in_their_order():
    config = validate({"search": {"operators": ["identity", " 3x3   conv ", "1x3-3x1  conv", "2x2 maxpool"]}})
    assert config["search"]["operators"] == ["identity", "3x3 conv", "1x3-3x1 conv", "2x2 maxpool"]


def test_two_spellings_of_one_operator_are_rejected():
    with pytest.raises(ConfigError) as caught:
        validate({"search": {"operators": ["3x3 conv", "3x3  conv", "identity"]}})
    assert str(caught.value) == (
        "config key 'search.operators': entries 0 and 1 are both the operator '3x3 conv' "
        "(written '3x3 conv' and '3x3  conv'); list each operator once"
    )


def test_an_unknown_operator_is_rejected_naming_its_entry():
    with pytest.raises(
        ConfigError, match=r"^config key 'search\.operators\[1\]': unknown operator '4x4 foo'; expected"
    ):
        validate({"search": {"operators": ["3x3 conv", "4x4 foo"]}})


def test_identical_operators_still_fail_the_schema():
    with pytest.raises(ConfigError, match=r"config key 'search\.operators': .* has non-unique elements"):
        validate({"search": {"operators": ["identity", "identity"]}})


# --- run -----------------------------------------------------------------------------------


@pytest.mark.parametrize("run", ["..", ".", ".hidden", "-x", "a/b", "/abs", "", "name\n", "a b"])
def test_a_run_name_must_be_a_plain_folder_name(run):
    message = (
        f"config key 'run': {run!r} is not a plain folder name; a run's name is letters, digits, '_', '.' and '-', "
        "starting with a letter, digit or '_' (its outputs go to results/<run>/)"
    )
    with pytest.raises(ConfigError) as caught:
        validate({"run": run})
    assert str(caught.value) == message


@pytest.mark.parametrize("run", ["default", "cifar10", "_tmp", "9", "v1.2-b_3", "a..b"])
def test_plain_run_names_are_accepted(run):
    assert validate({"run": run})["run"] == run


# --- strings of nested --config values -----------------------------------------------------


def test_nested_override_strings_are_cast_to_the_schema_types():
    # What Snakemake's YAML BaseLoader makes of
    # --config 'search={max_blocks: 2, time_constraint: 1e3}' 'training={horizontal_flip: false, ...}'
    config = validate(
        {
            "search": {"max_blocks": "2", "time_constraint": "1e3"},
            "training": {"horizontal_flip": "false", "jit_compile": "True", "learning_rate": "0.5", "alpha": "-0"},
            "dataset": {"image_size": ["32", "+16"]},
            "predictors": {"time": {"folds": "3"}},
            "compare": {"out_outside_workdir": "true"},
        }
    )
    assert config["search"]["max_blocks"] == 2 and type(config["search"]["max_blocks"]) is int
    assert config["search"]["time_constraint"] == 1000.0
    assert config["training"]["horizontal_flip"] is False and config["training"]["jit_compile"] is True
    assert config["training"]["learning_rate"] == 0.5 and config["training"]["alpha"] == 0
    assert config["dataset"]["image_size"] == [32, 16]
    assert config["predictors"]["time"]["folds"] == 3
    assert config["compare"]["out_outside_workdir"] is True


def test_null_strings_become_null_where_a_key_may_be_null_and_no_string():
    assert validate({"search": {"time_constraint": "null"}})["search"]["time_constraint"] is None
    assert validate({"dataset": {"source": "npz", "path": "null"}})["dataset"]["path"] == "null"


def test_strings_of_string_keys_are_kept():
    config = validate(
        {"run": "2024", "dataset": {"source": "npz", "path": "1e3"}, "compare": {"runs": ["true"], "out": "12"}}
    )
    assert (config["run"], config["dataset"]["path"], config["compare"]["runs"], config["compare"]["out"]) == (
        "2024",
        "1e3",
        ["true"],
        "12",
    )


@pytest.mark.parametrize(
    "config, message",
    [
        ({"search": {"max_blocks": "two"}}, "config key 'search.max_blocks': 'two' is not of type 'integer'"),
        ({"search": {"max_blocks": "2.0"}}, "config key 'search.max_blocks': '2.0' is not of type 'integer'"),
        ({"search": {"max_blocks": " 2"}}, "config key 'search.max_blocks': ' 2' is not of type 'integer'"),
        ({"search": {"max_blocks": "1_000"}}, "config key 'search.max_blocks': '1_000' is not of type 'integer'"),
        ({"search": {"max_blocks": "0"}}, "config key 'search.max_blocks': 0 is less than the minimum of 1"),
        ({"training": {"learning_rate": "nan"}}, "config key 'training.learning_rate': 'nan' is not of type 'number'"),
        ({"training": {"horizontal_flip": "yes"}}, "config key 'training.horizontal_flip': 'yes' is not of type"),
        ({"dataset": {"image_size": ["32", "x"]}}, "config key 'dataset.image_size[1]': 'x' is not of type 'integer'"),
    ],
)
def test_strings_that_are_no_clean_literal_are_still_rejected_naming_the_key(config, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        validate(config)


@pytest.mark.parametrize(
    "dataset, message",
    [
        ({"source": "idx"}, "config key 'dataset.path': source 'idx' reads its data from dataset.path, which is not"),
        ({"source": "npz"}, "config key 'dataset.path': source 'npz' reads its data"),
        (
            {"source": "cifar10", "path": "/data"},
            "config key 'dataset.path': source 'cifar10' reads no files, so '/data'",
        ),
        ({"source": "digits", "path": "x.npz"}, "config key 'dataset.path': source 'digits' reads no files"),
        ({"source": "idx", "path": "f", "train_samples": 1}, "config key 'dataset.train_samples': 1 is less than"),
    ],
)
def test_a_path_a_source_needs_or_ignores_is_refused_naming_the_key(dataset, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        validate({"dataset": dataset})


def test_mnist_sources_read_local_files_only_where_a_path_is_set():
    for source in ("mnist", "fashion_mnist"):
        assert validate({"dataset": {"source": source}})["dataset"]["path"] is None  # a download
        assert validate({"dataset": {"source": source, "path": "files"}})["dataset"]["path"] == "files"


def test_a_nested_override_merges_into_the_files_section_in_a_dry_run(tmp_path):
    # Snakemake merges a nested --config value into the config file's section key by key
    # (it does not replace the section), and leaves "2" a string for validate to cast.
    run = snakemake(tmp_path, "-n", "--cores", "1", "--config", "search={max_blocks: 2}", check=True)
    counts = job_counts(run.stdout)
    # B=2: the steps b0 (thrust), b1, b2 and one expansion (config.yaml's B=3 has b3 and two);
    # config.yaml's 4 operators are kept: the thrust and the 36 one-block cells.
    assert (counts["collect"], counts["expand"], counts["train_cell"]) == (3, 1, 37)
    assert "popnas/b2/selected.csv" in run.stdout and "popnas/b3/" not in run.stdout


# --- compare.out and compare.runs ----------------------------------------------------------

_OUTSIDE = (
    "is outside the working directory (an absolute path or one that leads out with '..'); give a folder inside it, "
    "e.g. results/compare, or set compare.out_outside_workdir: true to write there"
)


@pytest.mark.parametrize("out", ["../x", "/tmp/x", "a/../../x", "..", "./../x"])
def test_compare_out_must_stay_in_the_working_directory(out):
    with pytest.raises(ConfigError) as caught:
        validate({"compare": {"out": out}})
    assert str(caught.value) == f"config key 'compare.out': {out!r} {_OUTSIDE}"


@pytest.mark.parametrize("out", ["../x", "/tmp/x"])
def test_compare_out_outside_the_working_directory_when_asked(out):
    assert validate({"compare": {"out": out, "out_outside_workdir": True}})["compare"]["out"] == out


@pytest.mark.parametrize("out", ["results/compare", "a/../b", ".", "./cmp", "~/cmp"])
def test_compare_out_inside_the_working_directory_is_kept_as_written(out):
    config = validate({"compare": {"out": out}})
    assert config["compare"] == {"out": out, "runs": [], "out_outside_workdir": False}


@pytest.mark.parametrize(
    "compare, message",
    [
        ({"out": ""}, "config key 'compare.out': the path is empty"),
        ({"out": "a\nb"}, "config key 'compare.out': 'a\\nb' contains a line break; a path must be one line"),
        ({"out": "a\rb"}, "config key 'compare.out': 'a\\rb' contains a line break; a path must be one line"),
        (
            {"out": "a\0b"},
            "config key 'compare.out': 'a\\x00b' contains a NUL character, which no file path can hold",
        ),
        (
            {"out": "a{x}b"},
            "config key 'compare.out': 'a{x}b' contains '{' or '}', which Snakemake reads as a wildcard",
        ),
        ({"runs": ["results/a/popnas", ""]}, "config key 'compare.runs[1]': the path is empty"),
        (
            {"runs": ["results/a/popnas", "a\nb"]},
            "config key 'compare.runs[1]': 'a\\nb' contains a line break; a path must be one line",
        ),
        (
            {"runs": ["a\0b"]},
            "config key 'compare.runs[0]': 'a\\x00b' contains a NUL character, which no file path can hold",
        ),
        (
            {"runs": ["r/{b}"]},
            "config key 'compare.runs[0]': 'r/{b}' contains '{' or '}', which Snakemake reads as a wildcard",
        ),
    ],
)
def test_bad_compare_paths_are_rejected_naming_the_key(compare, message):
    with pytest.raises(ConfigError) as caught:
        validate({"compare": compare})
    assert str(caught.value) == message


def test_every_bad_compare_path_is_reported():
    with pytest.raises(ConfigError) as caught:
        validate({"compare": {"out": "../x", "runs": ["", "ok", "a\nb"]}})
    assert [part.split(":")[0] for part in str(caught.value).split("; config key")] == [
        "config key 'compare.out'",
        " 'compare.runs[0]'",
        " 'compare.runs[2]'",
    ]


def test_odd_but_legal_compare_paths_are_accepted_unchanged():
    # The rule quotes every path, so shell syntax in a path is only a file name.
    compare = {
        "out": "out dir/$(touch pwned) `id` 'single' \"double\"; echo x",
        "runs": ["results/my run/popnas", "r;$(rm -rf ~)`id`'\"/pnas", "/elsewhere/results/a/pnas", "../b/popnas"],
        "out_outside_workdir": False,
    }
    assert validate({"compare": compare})["compare"] == compare


# --- recipe keys added later leave the recorded slices of earlier runs as they were ---------

# The params text of rule train_cell (config_slice("seed", "network", "training")) for the
# embedded default, as popnas wrote it before training.augment_on_device existed.
DEFAULT_TRAIN_CELL_PARAMS = (
    '{"network": {"batchnorm_momentum": 0.9, "dropout": 0.0, "filters": 16, "motifs": 2, "normal_cells": 1}, '
    '"seed": 42, "training": {"alpha": 0, "batch_size": 64, "deterministic": true, "epochs": 7, '
    '"first_period": 1, "horizontal_flip": false, "jit_compile": false, "learning_rate": 0.01, "m_mul": 1, '
    '"t_mul": 2, "translation": 0.125, "weight_decay": 0.0005}}'
)


def test_a_later_recipe_key_at_its_default_leaves_the_params_text_unchanged():
    from popnas_steps.slices import LATER_KEYS, params_text

    config = load_config(ROOT / "config" / "config.yaml")
    assert config["training"]["augment_on_device"] is False  # filled in by validation
    assert params_text(config, "seed", "network", "training") == DEFAULT_TRAIN_CELL_PARAMS
    assert params_text(config, "training.augment_on_device") == '{"training": {}}'
    config["training"]["augment_on_device"] = True
    changed = params_text(config, "seed", "network", "training")
    assert changed != DEFAULT_TRAIN_CELL_PARAMS and '"augment_on_device": true' in changed
    # every later key is a schema key whose default is the one listed
    training = load_schema()["properties"]["training"]["properties"]
    assert all(training[key]["default"] == default for key, default in LATER_KEYS["training"].items())


def test_an_old_result_without_a_later_key_holds_the_same_recipe():
    from popnas_steps.slices import without_watch_keys
    from popnas_steps.train import Recipe

    config = validate({"training": {"tensorboard": True}})
    recorded = without_watch_keys(config)["training"]  # what train_cell stores in result.json
    assert "augment_on_device" not in recorded and "tensorboard" not in recorded
    assert Recipe.from_config(recorded) == Recipe.from_config(config["training"])  # an old result's recipe
    assert validate({"training": recorded}) == validate({})  # read back, the default fills it in again
    on = without_watch_keys(validate({"training": {"augment_on_device": True}}))["training"]
    assert on["augment_on_device"] is True


@pytest.mark.parametrize("section", ["predictors.time", "predictors.accuracy", "network", "training"])
def test_the_settings_dataclasses_default_to_the_schema(section):
    """The dataclasses that take a config slice default to what the schema documents."""
    import dataclasses

    from popnas_steps.accuracy_predictor import AccuracySettings
    from popnas_steps.macro import NetworkSpec
    from popnas_steps.time_predictor import TimeSettings
    from popnas_steps.train import Recipe

    settings = {"predictors.time": TimeSettings, "predictors.accuracy": AccuracySettings, "network": NetworkSpec,
                "training": Recipe}[section]  # fmt: skip
    schema = {"properties": load_schema()["properties"]}
    for name in section.split("."):
        schema = schema["properties"][name]
    for field in dataclasses.fields(settings):
        assert field.name in schema["properties"], f"{section}.{field.name} is not in the schema"
        assert field.default == schema["properties"][field.name]["default"], f"{section}.{field.name}"


def test_the_objective_is_a_list_of_known_costs_and_a_single_word_is_read_as_one():
    assert validate({})["search"]["objective"] == ["time"] and validate({})["search"]["max_params"] is None
    assert validate({"search": {"objective": "params"}})["search"]["objective"] == ["params"]
    assert validate({"search": {"objective": ["time", "params"]}})["search"]["objective"] == ["time", "params"]
    with pytest.raises(ConfigError, match="search.objective"):
        validate({"search": {"objective": ["time", "flops"]}})
    with pytest.raises(ConfigError, match="search.max_params"):
        validate({"search": {"max_params": 0}})


def test_the_objective_and_max_params_at_their_default_leave_the_fronts_params_as_they_were():
    from popnas_steps.slices import params_text

    config = validate({})
    assert params_text(config, "search.beam", "search.objective", "search.max_params") == '{"search": {"beam": 128}}'
    capped = validate({"search": {"max_params": 1000, "objective": "params"}})
    assert '"max_params": 1000' in params_text(capped, "search.max_params")


def test_a_latency_objective_or_cap_without_onnx_runtime_is_an_error_naming_the_key(monkeypatch):
    from popnas_steps import runtime

    with monkeypatch.context() as installed:  # as where the deploy extra is installed, whether or not it is here
        installed.setattr(runtime, "latency_unavailable", lambda: None)
        assert validate({"search": {"objective": ["latency", "params"]}})["search"]["objective"] == [
            "latency",
            "params",
        ]
    monkeypatch.setattr(runtime.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"search.objective use the measured latency .* needs onnx, onnxruntime"):
        validate({"search": {"objective": "latency"}})
    with pytest.raises(ConfigError, match=r"search.max_latency_ms use"):
        validate({"search": {"max_latency_ms": 1.5}})
    assert validate({"search": {"objective": "params"}})["search"]["max_latency_ms"] is None  # no latency: no check


# --- numbers: finite, and integers written as integers ---------------------------------------


def _number_keys(types: tuple[str, ...]) -> list[tuple[str, dict]]:
    """(key, schema) of every key of the schema whose type is one of `types`, nested ones too,
    so that a key added later is covered."""

    def walk(properties, prefix):
        for name, sub in properties.items():
            key = f"{prefix}{name}"
            kinds = [sub["type"]] if isinstance(sub.get("type"), str) else sub.get("type", [])
            if any(kind in types for kind in kinds):
                yield key, sub
            yield from walk(sub.get("properties", {}), f"{key}.")

    return list(walk(load_schema()["properties"], ""))


def _at(key: str, value) -> dict:
    """The config {"a": {"b": value}} of the key "a.b"."""
    config: dict = value
    for part in reversed(key.split(".")):
        config = {part: config}
    return config


def _get(config: dict, key: str):
    for part in key.split("."):
        config = config[part]
    return config


NUMBER_KEYS = _number_keys(("number", "integer"))
INTEGER_KEYS = _number_keys(("integer",))


def test_the_walk_finds_the_bounded_number_keys_of_the_defects():
    keys = {key for key, _ in NUMBER_KEYS}
    assert {"search.time_constraint", "search.budget_hours", "deploy.pause", "network.dropout", "seed"} <= keys
    assert {"search.max_blocks", "search.beam", "seed"} <= {key for key, _ in INTEGER_KEYS}


@pytest.mark.parametrize("key", [key for key, _ in NUMBER_KEYS])
def test_nan_is_refused_naming_the_key(key):
    # JSON Schema's minimum and maximum are false for NaN, so the bounds alone let it through.
    with pytest.raises(ConfigError, match="^" + re.escape(f"config key '{key}': nan is not")):
        validate(_at(key, float("nan")))


@pytest.mark.parametrize("key, schema", NUMBER_KEYS, ids=[key for key, _ in NUMBER_KEYS])
def test_inf_is_read_as_no_limit_where_null_means_that_and_refused_elsewhere(key, schema):
    for spelling in (float("inf"), ".inf"):  # a file's .inf, and a nested --config value's string
        if schema.get("x-inf-is-null"):
            assert _get(validate(_at(key, spelling)), key) is None  # the same config slice as null
        else:
            with pytest.raises(ConfigError, match="^" + re.escape(f"config key '{key}': ")):
                validate(_at(key, spelling))
    with pytest.raises(ConfigError, match="^" + re.escape(f"config key '{key}': ")):
        validate(_at(key, float("-inf")))


def test_the_keys_whose_null_means_no_limit_take_inf_and_say_so():
    marked = {key: schema for key, schema in NUMBER_KEYS if schema.get("x-inf-is-null")}
    assert {"search.time_constraint", "search.max_params", "search.max_latency_ms", "search.budget_hours"} <= set(
        marked
    )
    for key, schema in marked.items():
        assert schema["default"] is None and "null or .inf" in schema["description"], key
    assert "search.budget_hours" in str(pytest.raises(ConfigError, validate, {"deploy": {"pause": float("inf")}}).value)


@pytest.mark.parametrize("key, schema", INTEGER_KEYS, ids=[key for key, _ in INTEGER_KEYS])
def test_a_whole_float_at_an_integer_key_is_refused_naming_the_key(key, schema):
    # Draft 7 takes 3.0 as an integer; `search.beam: 2.0` then failed in the pareto job, and
    # 2.0 and 2 recorded different config slices.
    value = schema.get("minimum", 1)
    assert _get(validate(_at(key, value)), key) == value
    message = f"config key '{key}': {float(value)} is not of type"
    with pytest.raises(ConfigError, match="^" + re.escape(message) + r".*without a decimal point: " + str(value)):
        validate(_at(key, float(value)))


def test_a_whole_float_in_an_integer_list_is_refused_naming_the_entry():
    with pytest.raises(ConfigError, match=re.escape("config key 'dataset.image_size[0]': 32.0 is not of type")):
        validate({"dataset": {"image_size": [32.0, 32]}})


# --- run names and duplicate keys ------------------------------------------------------------


def test_a_run_name_longer_than_a_folder_name_may_be_is_refused():
    assert validate({"run": "r" * 255})["run"] == "r" * 255
    with pytest.raises(ConfigError) as caught:
        validate({"run": "r" * 256})
    assert str(caught.value) == (
        "config key 'run': the name is 256 bytes long, and a folder's name holds at most 255 "
        "(its outputs go to results/<run>/)"
    )


@pytest.mark.parametrize(
    "text, key, lines",
    [
        ("search:\n  beam: 2\nrun: x\nsearch:\n  max_blocks: 2\n", "search", (1, 4)),
        ("search:\n  beam: 2\n  exploration: 0\n  beam: 3\n", "search.beam", (2, 4)),
        ("compare:\n  runs: []\n  out: a\n  out: b\n", "compare.out", (3, 4)),
    ],
)
def test_a_key_given_twice_in_a_config_file_is_refused_naming_the_file_and_the_key(tmp_path, text, key, lines):
    from popnas_steps.config import check_config_files

    path = tmp_path / "twice.yaml"
    path.write_text(text)
    message = f"config file '{path}' gives the key '{key}' twice (lines {lines[0]} and {lines[1]})"
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        load_config(path)
    with pytest.raises(ConfigError, match="^" + re.escape(message)):  # the files Snakemake loaded
        check_config_files([path])


def test_a_key_given_twice_in_a_json_config_file_is_refused(tmp_path):
    from popnas_steps.config import check_config_files

    path = tmp_path / "twice.json"
    path.write_text('{"search": {"beam": 2, "beam": 3}}')
    with pytest.raises(ConfigError, match=re.escape(f"config file '{path}' gives the key 'beam' twice")):
        check_config_files([path])


def test_yaml_merge_keys_and_equal_keys_of_other_mappings_are_no_duplicates(tmp_path):
    from popnas_steps.config import check_config_files

    path = tmp_path / "ok.yaml"
    path.write_text(
        "search: &s\n  beam: 2\nfinal:\n  epochs: 3\ntraining:\n  epochs: 3\n"
        "compare:\n  runs: [a, b]\n  <<: {out: x}\n  out: y\n"
    )
    check_config_files([path])
    assert load_config(path)["compare"]["out"] == "y"


def test_the_schema_file_is_read_refusing_a_key_given_twice(tmp_path):
    path = tmp_path / "schema.yaml"
    path.write_text("type: object\nproperties: {}\ntype: array\n")
    with pytest.raises(ConfigError, match=re.escape(f"schema file '{path}' gives the key 'type' twice")):
        load_schema(path)


@pytest.mark.parametrize(
    "overlay, message",
    [
        ("search:\n  beam: 2\nsearch:\n  max_blocks: 2\n", "gives the key 'search' twice (lines 1 and 3)"),
        ("search:\n  max_blocks: 3.0\n", "config key 'search.max_blocks': 3.0 is not of type 'integer'"),
        ("deploy:\n  pause: .nan\n", "config key 'deploy.pause': nan is not a number"),
    ],
)
def test_a_config_file_error_stops_the_dry_run_naming_the_key(tmp_path, overlay, message):
    (tmp_path / "tiny.yaml").write_text((ROOT / "config" / "tiny.yaml").read_text())
    (tmp_path / "overlay.yaml").write_text(overlay)
    run = snakemake(tmp_path, "-n", "--cores", "1", "--configfile", "tiny.yaml", "overlay.yaml")
    printed = run.stdout + run.stderr
    assert run.returncode != 0 and "ConfigError" in printed and message in printed, printed[-2000:]
    assert "Job stats" not in printed  # stopped while the workflow was parsed, before any planning


# The network and training slices of the paper configs and the embedded default as they
# were before network.batchnorm_momentum's default became null (recomputed statistics):
# equal slices, so their cached cells stay valid (the train_cell command reads them).
PINNED_RECIPES = {
    "cifar10": (
        '{"network": {"batchnorm_momentum": 0.99, "dropout": 0.0, "filters": 24, "motifs": 3, "norm'
        'al_cells": 2}, "seed": 42, "training": {"alpha": 0, "batch_size": 128, "deterministic": fa'
        'lse, "epochs": 21, "first_period": 3, "horizontal_flip": true, "jit_compile": false, "lear'
        'ning_rate": 0.01, "m_mul": 1, "t_mul": 2, "translation": 0.125, "weight_decay": 0.0005}}'
    ),
    "cifar100": (
        '{"network": {"batchnorm_momentum": 0.99, "dropout": 0.0, "filters": 24, "motifs": 3, "norm'
        'al_cells": 2}, "seed": 42, "training": {"alpha": 0, "batch_size": 128, "deterministic": fa'
        'lse, "epochs": 21, "first_period": 3, "horizontal_flip": true, "jit_compile": false, "lear'
        'ning_rate": 0.01, "m_mul": 1, "t_mul": 2, "translation": 0.125, "weight_decay": 0.0005}}'
    ),
    "fashion_mnist": (
        '{"network": {"batchnorm_momentum": 0.99, "dropout": 0.0, "filters": 24, "motifs": 3, "norm'
        'al_cells": 2}, "seed": 42, "training": {"alpha": 0, "batch_size": 128, "deterministic": fa'
        'lse, "epochs": 21, "first_period": 3, "horizontal_flip": true, "jit_compile": false, "lear'
        'ning_rate": 0.01, "m_mul": 1, "t_mul": 2, "translation": 0.125, "weight_decay": 0.0005}}'
    ),
    "eurosat": (
        '{"network": {"batchnorm_momentum": 0.99, "dropout": 0.0, "filters": 24, "motifs": 3, "norm'
        'al_cells": 2}, "seed": 42, "training": {"alpha": 0, "batch_size": 128, "deterministic": fa'
        'lse, "epochs": 21, "first_period": 3, "horizontal_flip": true, "jit_compile": false, "lear'
        'ning_rate": 0.01, "m_mul": 1, "t_mul": 2, "translation": 0.125, "weight_decay": 0.0005}}'
    ),
    "config": (
        '{"network": {"batchnorm_momentum": 0.9, "dropout": 0.0, "filters": 16, "motifs": 2, "norma'
        'l_cells": 1}, "seed": 42, "training": {"alpha": 0, "batch_size": 64, "deterministic": true'
        ', "epochs": 7, "first_period": 1, "horizontal_flip": false, "jit_compile": false, "learnin'
        'g_rate": 0.01, "m_mul": 1, "t_mul": 2, "translation": 0.125, "weight_decay": 0.0005}}'
    ),
}


@pytest.mark.parametrize("name", sorted(PINNED_RECIPES))
def test_the_paper_configs_and_the_default_keep_the_recipe_of_their_cached_cells(name):
    from popnas_steps.slices import params_text

    config = load_config(ROOT / "config" / f"{name}.yaml")
    assert params_text(config, "seed", "network", "training") == PINNED_RECIPES[name]


def test_every_shipped_config_validates():
    shipped = [*sorted((ROOT / "config").glob("*.yaml")), *sorted((ROOT / "bench").rglob("*.yaml"))]
    overlays = {"pnas.yaml", "random.yaml"}  # applied over a base config
    for path in shipped:
        if path.name == "schema.yaml":
            continue
        files = [ROOT / "config" / "config.yaml", path] if path.name in overlays else [path]
        load_config(*files)  # raises ConfigError naming the key


def test_a_rule_slice_holds_only_the_keys_passed_and_names_any_other_read():
    from popnas_steps.slices import UnpassedKeyError, strict_slice

    passed = {"search": {"beam": 4, "strategy": "popnas"}, "seed": 3}
    settings = strict_slice(validate(passed), passed)
    assert settings["search"]["beam"] == 4 and settings["seed"] == 3
    assert settings["search"]["objective"] == ["time"]  # a LATER key: left out of a slice at its default
    assert settings["search"].get("budget_hours") is None  # an optional key asked for as one
    with pytest.raises(UnpassedKeyError, match="config key 'search.exploration' is not in this command's --settings"):
        settings["search"]["exploration"]
    with pytest.raises(UnpassedKeyError, match="config key 'network' is not"):
        settings["network"]
    later = {"objective": ["time"], "max_params": None, "max_latency_ms": None}
    assert settings == {"search": {**passed["search"], **later}, "seed": 3}
