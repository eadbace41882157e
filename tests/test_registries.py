"""Every concept that varies is one table in the library, and the schema offers exactly its
entries: a kind added to one and not the other fails here, not in a job."""

from __future__ import annotations

import pytest

from popnas_steps.accuracy_predictor import ACCURACY_MODELS
from popnas_steps.config import load_schema
from popnas_steps.deploy import DEPLOY_FORMATS
from popnas_steps.objectives import OBJECTIVES
from popnas_steps.sources import SOURCES
from popnas_steps.strategies import STRATEGIES
from popnas_steps.time_predictor import TIME_MODELS

# (the schema's path to the enum's key, the table)
REGISTRIES = {
    "search.strategy": STRATEGIES,
    "search.objective": OBJECTIVES,
    "predictors.time.model": TIME_MODELS,
    "predictors.accuracy.model": ACCURACY_MODELS,
    "deploy.formats": DEPLOY_FORMATS,
    "dataset.source": SOURCES,
}


def schema_entry(key: str) -> dict:
    entry = {"properties": load_schema()["properties"]}
    for name in key.split("."):
        entry = entry["properties"][name]
    return entry


@pytest.mark.parametrize("key", REGISTRIES)
def test_the_schema_offers_exactly_the_entries_of_the_table(key):
    entry, table = schema_entry(key), REGISTRIES[key]
    enum = entry["items"]["enum"] if entry["type"] == "array" else entry["enum"]
    assert set(enum) == set(table), f"{key}: the schema's enum and the table list other entries"
    default = entry["default"] if isinstance(entry["default"], list) else [entry["default"]]
    assert set(default) <= set(table), f"{key}: the default {entry['default']} is not in the table"


def test_every_enum_of_a_registry_is_pinned():
    """The schema's enums that name kinds of code (not spellings of a setting) are all above."""
    spellings = {"predictors.time.validation"}  # kfold | forward: an option of one kind, not a table

    def enums(node: dict, where: str):
        for name, child in node.get("properties", {}).items():
            key = f"{where}{name}"
            if "enum" in child or "enum" in child.get("items", {}):
                yield key
            yield from enums(child, f"{key}.")

    assert set(enums(load_schema(), "")) - spellings == set(REGISTRIES)
