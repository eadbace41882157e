"""The caching contract's records: what a rule's params, a result's recipe and a checkpoint's
fingerprint hold of the config, and what a command reads back of it.

- `params_text`: a rule's config slice as canonical JSON, Snakemake's params (a changed
  slice reruns that rule and what follows, and nothing else);
- WATCH_KEYS: keys that change no result, left out of every record and passed through the
  environment instead;
- LATER_KEYS: recipe keys added later, left out of every record while at their default, so
  that upgrading retrains nothing;
- `strict_slice`: the slice as a command reads it, an error for any key its rule did not pass.

docs/architecture.md, "The caching contract", says where the rest of the contract lives.
"""

from __future__ import annotations

import json

# Keys that say how a training is watched, never what it computes: not part of a recipe, a
# result or a checkpoint's fingerprint. The workflow leaves them out of the config slices that
# Snakemake's params trigger records and passes them in the environment (WATCH_ENVIRONMENT,
# set in rules/common.smk), so turning one on or off trains nothing again.
WATCH_ENVIRONMENT = "POPNAS_WATCH"
WATCH_KEYS: dict[str, tuple[str, ...]] = {"training": ("tensorboard",)}


# Recipe keys added after runs were made, each with its default, under which a training is
# what it was before the key existed. A key at that default is left out of what is recorded
# (the config slices of the rules' params, a result's recipe, a checkpoint's fingerprint):
# Snakemake reruns a job whose params changed, so recording it would retrain every cached
# cell on upgrade, and an old result, which lacks it, still reads as the same recipe. Set to
# anything else, the key is recorded, and the jobs that read it run again. A key added to
# the recipe later goes here with its default.
LATER_KEYS: dict[str, dict[str, object]] = {
    "training": {"augment_on_device": False},
    "dataset": {"train_samples": None, "test_samples": None},
    "search": {"objective": ["time"], "max_params": None, "max_latency_ms": None},
}


def without_later_defaults(settings: dict) -> dict:
    """`settings` (a config or a slice of one) less the LATER_KEYS that hold their default."""
    return _without(settings, _later_default)


def _later_default(section: str, key: str, value: object) -> bool:
    defaults = LATER_KEYS.get(section, {})
    # the type too: 0 == False, but a 0 is not what the schema's default spells
    return key in defaults and type(value) is type(defaults[key]) and value == defaults[key]


def without_watch_keys(settings: dict) -> dict:
    """`settings` (a config or a slice of one) as it is recorded: less the WATCH_KEYS, and
    less the LATER_KEYS that hold their default (a result's recipe and a rule's params)."""
    return _without(
        settings,
        lambda section, key, value: key in WATCH_KEYS.get(section, ()) or _later_default(section, key, value),
    )


def _without(settings: dict, drop) -> dict:
    """`settings` less the entries of its sections for which `drop(section, key, value)`."""
    return {
        section: (
            {key: value for key, value in entries.items() if not drop(section, key, value)}
            if isinstance(entries, dict)
            else entries
        )
        for section, entries in settings.items()
    }


def params_text(config: dict, *keys: str) -> str:
    """The named entries of a validated `config` ("section" or "section.key") as the canonical
    JSON a rule's params record (rules/common.smk, config_slice): less the WATCH_KEYS and the
    LATER_KEYS at their default, so that neither changes the text."""
    sliced: dict = {}
    for key in keys:
        section, _, name = key.partition(".")
        if name:
            sliced.setdefault(section, {})[name] = config[section][name]
        else:
            sliced[section] = config[section]
    return json.dumps(without_watch_keys(sliced), sort_keys=True)


class UnpassedKeyError(KeyError):
    """A command read a config key that its --settings slice does not hold."""

    def __str__(self) -> str:
        return str(self.args[0])


class ConfigSlice(dict):
    """A rule's config slice as a command reads it: the keys the rule passed, validated, and
    an error for any other key, where a slice filled with the schema's defaults would turn a
    key the rule forgot into a plausible value. `.get` still answers for optional keys."""

    def __init__(self, entries: dict, where: str = "") -> None:
        super().__init__(entries)
        self.where = where

    def __missing__(self, key: str):
        raise UnpassedKeyError(
            f"config key '{self.where}{key}' is not in this command's --settings: the workflow rule that runs "
            "it must pass it (the rule's config_slice in rules/)"
        )


def strict_slice(validated: dict, passed: dict) -> ConfigSlice:
    """`validated` (the slice `passed` with the schema's defaults) cut back to the keys
    passed. The WATCH_KEYS and LATER_KEYS of a passed section stay: a rule never passes the
    first, and leaves the second out where they hold their default (params_text)."""
    sections = {}
    for section, entries in passed.items():
        value = validated[section]
        if isinstance(entries, dict) and isinstance(value, dict):
            keep = {*entries, *WATCH_KEYS.get(section, ()), *LATER_KEYS.get(section, {})}
            value = ConfigSlice({key: item for key, item in value.items() if key in keep}, f"{section}.")
        sections[section] = value
    return ConfigSlice(sections)


def watch_settings(config: dict) -> dict:
    """The WATCH_KEYS of a validated `config`, as `--watch` takes them."""
    return {section: {key: config[section][key] for key in keys} for section, keys in WATCH_KEYS.items()}
