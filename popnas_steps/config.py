"""Loading and validating a popnas configuration against config/schema.yaml.

Validation fills in every default and rejects unknown keys, wrong types and out-of-range
values with a message that names the key, before any work is spent.
"""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "config" / "schema.yaml"


class ConfigError(ValueError):
    """A configuration that does not satisfy the schema."""


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    with open(path) as handle:
        return yaml.safe_load(handle)


def _with_defaults(validator_class):
    """A validator that also writes each property's default where the key is missing."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, subschema in properties.items():
                if "default" in subschema and key not in instance:
                    instance[key] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft7Validator)


def _describe(error: jsonschema.ValidationError) -> str:
    key = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        where = f"{key}." if key else ""
        return f"unknown config key {', '.join(where + k for k in unknown)!s} (known keys here: {', '.join(known)})"
    return f"config key '{key or '<root>'}': {error.message}"


def validate(config: dict | None, schema: dict | None = None) -> dict:
    """Return a validated copy of `config` with defaults filled in; raise ConfigError."""
    config = copy.deepcopy(config or {})
    if not isinstance(config, dict):
        raise ConfigError(f"a config is a mapping of keys to values; got {type(config).__name__}")
    validator = _Validator(schema or load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError("; ".join(_describe(error) for error in errors))
    return config


def load_config(*paths: str | Path) -> dict:
    """Read one or more YAML files (later ones override earlier ones, key by key) and validate."""
    merged: dict = {}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file '{path}' does not exist")
        with open(path) as handle:
            try:
                data = yaml.safe_load(handle) or {}
            except yaml.YAMLError as error:
                raise ConfigError(f"config file '{path}' is not valid YAML: {error}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file '{path}' must hold a mapping of keys to values")
        merged = deep_merge(merged, data)
    return validate(merged)


def deep_merge(base: dict, override: dict) -> dict:
    """Merge `override` into a copy of `base`, recursing into nested mappings."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def add_config_arguments(parser) -> None:
    """--config FILE... (a user's files) or --settings JSON (the slice a workflow rule passes)."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--config", nargs="+", help="config file(s); later ones override earlier ones")
    group.add_argument("--settings", help="config keys as JSON, e.g. the slice a workflow rule passes")


def config_from_args(args) -> dict:
    """The validated config named by --config or --settings (entry points of rules have only
    --settings); raise ConfigError."""
    if getattr(args, "config", None):
        return load_config(*args.config)
    import json

    try:
        settings = json.loads(args.settings)
    except json.JSONDecodeError as error:
        raise ConfigError(f"--settings is not valid JSON ({error.msg})") from None
    return validate(settings)
