"""Loading and validating a popnas configuration against config/schema.yaml.

Validation fills in every default and rejects unknown keys, wrong types and out-of-range
values with a message that names the key, before any work is spent. It also reads strings
that spell an integer, number, boolean or null where the schema expects one (nested
`--config` values), rewrites the operator set in canonical form, and checks the names and
paths the rules put into file names and shell commands. Numbers must be finite: `.inf` is
read as null at the keys whose null means "no limit" (marked `x-inf-is-null` in the schema)
and refused elsewhere, `.nan` is refused everywhere, and a whole float (3.0) is no integer.
Config files are read refusing a key given twice. Validating a validated config returns it
unchanged.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import yaml

from popnas_steps import objectives
from popnas_steps.operators import OperatorError, parse_operator
from popnas_steps.sources import FILE_SOURCES, IDX_KERAS_SOURCES

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "config" / "schema.yaml"


class ConfigError(ValueError):
    """A configuration that does not satisfy the schema."""


# The schema keyword of the keys whose null means "no limit" (caps and budgets): `.inf` says
# the same there and is read as null, so both spellings record the same config slice.
INF_IS_NULL = "x-inf-is-null"


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    return read_yaml(path, "schema file")


def read_yaml(path: str | Path, what: str = "config file") -> object:
    """The YAML document of the file at `path` (None where it is empty), refusing a key given
    twice in one mapping, which YAML loaders silently resolve by keeping the last (two
    `search:` sections would drop the first); raise ConfigError naming the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} '{path}' does not exist")
    loader = yaml.SafeLoader(path.read_text(encoding="utf-8"))
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        duplicate = next(_duplicate_keys(loader, node, ()), None)
        if duplicate is not None:
            key, first, second = duplicate
            raise ConfigError(
                f"{what} '{path}' gives the key '{key}' twice (lines {first} and {second}); YAML would keep only "
                "the last, so merge the two into one"
            )
        return loader.construct_document(node)
    except yaml.YAMLError as error:
        raise ConfigError(f"{what} '{path}' is not valid YAML: {error}") from None
    finally:
        loader.dispose()


def _duplicate_keys(loader: yaml.SafeLoader, node: yaml.Node, path: tuple, seen: set | None = None):
    """(key as the user writes it, first line, second line) of each key given twice in a
    mapping under `node`. An alias is walked once; a merge key (`<<`) may be overridden."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        lines: dict = {}
        for key_node, value_node in node.value:
            key = None
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = loader.construct_object(key_node)
                line = key_node.start_mark.line + 1
                if key in lines:
                    yield _key((*path, key)), lines[key], line
                lines.setdefault(key, line)
            yield from _duplicate_keys(loader, value_node, (*path, str(key)) if key is not None else path, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(loader, item, (*path, index), seen)


def check_config_files(paths) -> None:
    """Refuse a key given twice in any of the config files Snakemake loaded itself
    (`workflow.configfiles`: --configfile and the Snakefile's configfile), naming the file
    and the key. Snakemake reads a file as JSON first, then YAML, keeping the last of two
    equal keys either way."""
    for path in paths:
        text = Path(path).read_text(encoding="utf-8")
        try:
            json.loads(text, object_pairs_hook=lambda pairs, path=path: _unique_json_keys(pairs, path))
        except json.JSONDecodeError:
            read_yaml(path)


def _unique_json_keys(pairs: list, path) -> dict:
    keys = [key for key, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise ConfigError(
                f"config file '{path}' gives the key '{key}' twice in one mapping; JSON readers keep only the last, "
                "so merge the two into one"
            )
    return dict(pairs)


def _finite_type(validate_type):
    """The `type` keyword, also refusing NaN and infinities where a number is expected."""

    def finite_type(validator, types, instance, schema):
        errors = list(validate_type(validator, types, instance, schema))
        yield from errors
        if not errors and isinstance(instance, float) and math.isnan(instance):
            yield jsonschema.ValidationError("nan is not a number", validator="finite")
        elif not errors and isinstance(instance, float) and math.isinf(instance):
            yield jsonschema.ValidationError(f"{instance} is not a finite number", validator="finite")

    return finite_type


def _with_defaults(validator_class):
    """A validator that also writes each property's default where the key is missing, takes
    no float for an integer (draft 7 takes 3.0: `search.beam: 2.0` would then slice with a
    float, and record a config slice other than `2` does) and refuses non-finite numbers."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, subschema in properties.items():
                if "default" in subschema and key not in instance:
                    instance[key] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    type_checker = validator_class.TYPE_CHECKER.redefine(
        "integer", lambda checker, instance: isinstance(instance, int) and not isinstance(instance, bool)
    )
    return jsonschema.validators.extend(
        validator_class,
        {"properties": set_defaults, "type": _finite_type(validator_class.VALIDATORS["type"])},
        type_checker=type_checker,
    )


_Validator = _with_defaults(jsonschema.Draft7Validator)


def inf_is_null_keys(schema: dict) -> list[str]:
    """The keys (`search.budget_hours`) whose schema marks `.inf` as their null (no limit)."""
    return [key for key, subschema in schema_keys(schema) if subschema.get(INF_IS_NULL)]


def schema_keys(schema: dict, path: tuple = ()) -> Iterator[tuple[str, dict]]:
    """(key as the user writes it, its schema) of every key under `schema`, nested ones too."""
    for name, subschema in schema.get("properties", {}).items():
        yield _key((*path, name)), subschema
        yield from schema_keys(subschema, (*path, name))


def _key(path) -> str:
    """A key as the user writes it: `search.max_blocks`, `compare.runs[1]`."""
    key = ""
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else f".{part}"
    return key.lstrip(".")


def _describe(error: jsonschema.ValidationError, schema: dict) -> str:
    key = _key(error.absolute_path)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        where = f"{key}." if key else ""
        return f"unknown config key {', '.join(where + k for k in unknown)!s} (known keys here: {', '.join(known)})"
    hint = ""
    if error.validator == "finite" and error.instance == math.inf:
        hint = f"; .inf means no limit at {', '.join(inf_is_null_keys(schema))} only (as null does there)"
    if error.validator == "type" and "integer" in error.validator_value and _whole_float(error.instance):
        hint = f" (an integer is written without a decimal point: {int(float(error.instance))})"
    return f"config key '{key or '<root>'}': {error.message}{hint}"


def _whole_float(value: object) -> bool:
    """3.0 or "3.0": a whole number written as a float, which an integer key refuses."""
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        value = float(value)
    return isinstance(value, float) and value.is_integer()


# Clean literals only: int() and float() would also take " 2", "1_000", "inf" and "nan".
_INTEGER = re.compile(r"[-+]?[0-9]+")
_NUMBER = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_BOOLEANS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_NULLS = ("null", "Null", "NULL", "~")


_INF = re.compile(r"\+?\.(?:inf|Inf|INF)")  # YAML's spellings of +infinity


def cast_strings(value: object, schema: dict) -> object:
    """`value` with each string that cleanly spells the integer, number, boolean or null its
    schema expects replaced by that value, in nested mappings and arrays too, and `.inf`
    replaced by null where the schema marks it so (INF_IS_NULL).

    Snakemake reads nested `--config` values (`search={max_blocks: 2}`) with YAML's
    BaseLoader, which leaves every scalar a string. Anything else is left as it is, so the
    schema still rejects it naming the key. Only `properties`, `items` and `type` are
    followed: the schema uses no combinators (anyOf, ...).
    """
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {key: cast_strings(item, properties.get(key, {})) for key, item in value.items()}
    if isinstance(value, list):
        items = schema.get("items", {})
        return [cast_strings(item, items if isinstance(items, dict) else {}) for item in value]
    if schema.get(INF_IS_NULL) and (value == math.inf or (isinstance(value, str) and _INF.fullmatch(value))):
        return None
    if isinstance(value, str):
        return _literal(value, schema.get("type", []))
    return value


def _literal(text: str, types: str | list[str]) -> object:
    types = [types] if isinstance(types, str) else types
    if "string" in types:  # the string is already valid; guessing could change its meaning
        return text
    if "integer" in types and _INTEGER.fullmatch(text):
        return int(text)
    if "number" in types and _NUMBER.fullmatch(text):
        return int(text) if _INTEGER.fullmatch(text) else float(text)
    if "boolean" in types and text in _BOOLEANS:
        return _BOOLEANS[text]
    if "null" in types and text in _NULLS:
        return None
    return text


def validate(config: dict | None, schema: dict | None = None) -> dict:
    """Return a validated copy of `config` with defaults filled in and the operator set in
    canonical form; raise ConfigError naming each bad key."""
    config = copy.deepcopy(config or {})
    if not isinstance(config, dict):
        raise ConfigError(f"a config is a mapping of keys to values; got {type(config).__name__}")
    schema = schema or load_schema()
    search = config.get("search")
    if isinstance(search, dict) and isinstance(search.get("objective"), str):  # one cost, as a word
        search["objective"] = [search["objective"]]
    config = cast_strings(config, schema)
    errors = sorted(_Validator(schema).iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        raise ConfigError("; ".join(_describe(error, schema) for error in errors))
    problems = [
        *_run_problems(config),
        *_dataset_problems(config),
        *_operator_problems(config),
        *_compare_problems(config),
        *_unmeasurable_objectives(config),
    ]
    if problems:
        raise ConfigError("; ".join(problems))
    if "operators" in config.get("search", {}):
        config["search"]["operators"] = [parse_operator(text).name for text in config["search"]["operators"]]
    return config


# Checked here rather than by a schema `pattern`: Python's `$` also matches before a final
# newline, so a pattern would let "name\n" through.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


# The longest file name of the usual file systems (ext4, XFS, btrfs, APFS, NTFS), in bytes.
NAME_MAX = 255


def _run_problems(config: dict) -> Iterator[str]:
    # The run's outputs go to results/<run>/: "..", "." or a path would put them elsewhere.
    run = config.get("run")
    if isinstance(run, str) and not _PLAIN_NAME.fullmatch(run):
        yield (
            f"config key 'run': {run!r} is not a plain folder name; a run's name is letters, digits, "
            "'_', '.' and '-', starting with a letter, digit or '_' (its outputs go to results/<run>/)"
        )
    elif isinstance(run, str) and len(run.encode()) > NAME_MAX:
        yield (
            f"config key 'run': the name is {len(run.encode())} bytes long, and a folder's name holds at most "
            f"{NAME_MAX} (its outputs go to results/<run>/)"
        )


def _dataset_problems(config: dict) -> Iterator[str]:
    dataset = config.get("dataset", {})
    source, path = dataset.get("source"), dataset.get("path")
    if source in FILE_SOURCES and path is None:
        yield f"config key 'dataset.path': source '{source}' reads its data from dataset.path, which is not set"
    if source not in FILE_SOURCES + IDX_KERAS_SOURCES and path is not None:
        yield (
            f"config key 'dataset.path': source '{source}' reads no files, so {path!r} would be ignored; "
            "choose source npz, folder or idx to read files"
        )


def _operator_problems(config: dict) -> Iterator[str]:
    # Two spellings of one operator pass the schema's uniqueItems but would search duplicated cells.
    first_of: dict[str, int] = {}
    for index, text in enumerate(config.get("search", {}).get("operators", [])):
        try:
            name = parse_operator(text).name
        except OperatorError as error:
            yield f"config key 'search.operators[{index}]': {error}"
            continue
        if name in first_of:
            first = first_of[name]
            yield (
                f"config key 'search.operators': entries {first} and {index} are both the operator "
                f"{name!r} (written {config['search']['operators'][first]!r} and {text!r}); list each operator once"
            )
        else:
            first_of[name] = index


def _unmeasurable_objectives(config: dict) -> Iterator[str]:
    """An objective or cap in use whose cost cannot be measured here (latency without ONNX Runtime)."""
    yield from objectives.unavailable_lines(config.get("search", {}))


def _compare_problems(config: dict) -> Iterator[str]:
    compare = config.get("compare", {})
    if "out" in compare:
        out = compare["out"]
        yield from _path_problems("compare.out", out)
        if out and not compare.get("out_outside_workdir", False) and _leaves_workdir(out):
            yield (
                f"config key 'compare.out': {out!r} is outside the working directory (an absolute path or one "
                "that leads out with '..'); give a folder inside it, e.g. results/compare, or set "
                "compare.out_outside_workdir: true to write there"
            )
    for index, run in enumerate(compare.get("runs", [])):
        yield from _path_problems(f"compare.runs[{index}]", run)


def _path_problems(key: str, path: str) -> Iterator[str]:
    # Spaces, quotes, `;`, `$(...)` and backticks are legal in file names and the rules quote
    # them; these are not: an empty path turns "<path>/summary.csv" into "/summary.csv", a
    # newline breaks the rule's one-line command ($(dirname) drops a final one), no file
    # name can hold a NUL, and Snakemake reads braces as wildcards.
    if path == "":
        yield f"config key '{key}': the path is empty"
    if "\n" in path or "\r" in path:
        yield f"config key '{key}': {path!r} contains a line break; a path must be one line"
    if "\0" in path:
        yield f"config key '{key}': {path!r} contains a NUL character, which no file path can hold"
    if "{" in path or "}" in path:
        yield f"config key '{key}': {path!r} contains '{{' or '}}', which Snakemake reads as a wildcard"


def _leaves_workdir(path: str) -> bool:
    # Lexical, as the rules use the path: a symlink inside the working directory may still
    # lead out, but then the user made it so.
    normal = os.path.normpath(path)
    return os.path.isabs(normal) or normal == os.pardir or normal.startswith(os.pardir + os.sep)


def load_config(*paths: str | Path) -> dict:
    """Read one or more YAML files (later ones override earlier ones, key by key) and validate."""
    merged: dict = {}
    for path in paths:
        data = read_yaml(path) or {}
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
