"""The command lines' shared arguments: which config a command reads (--config files, or
the --settings slice a rule passes) and the keys that change no result (--watch)."""

from __future__ import annotations

import json
import os

from popnas_steps.config import ConfigError, deep_merge, load_config, validate
from popnas_steps.slices import WATCH_ENVIRONMENT, WATCH_KEYS, strict_slice


def add_config_arguments(parser) -> None:
    """--config FILE... (a user's files) or --settings JSON (the slice a workflow rule passes)."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--config", nargs="+", help="config file(s); later ones override earlier ones")
    group.add_argument("--settings", help="config keys as JSON, e.g. the slice a workflow rule passes")


def add_watch_argument(parser) -> None:
    """--watch JSON: the WATCH_KEYS, which a workflow rule passes apart from its --settings."""
    parser.add_argument(
        "--watch",
        help=f"config keys that change no result ({_watch_key_names()}) as JSON, over --config or --settings; "
        f"default ${WATCH_ENVIRONMENT}, which the workflow sets, so that turning one on retrains nothing",
    )


def config_from_args(args) -> dict:
    """The validated config named by --config or --settings (entry points of rules have only
    --settings), with --watch over it where the command takes one; raise ConfigError. A
    --settings slice holds only the keys passed (slices.strict_slice)."""
    if getattr(args, "config", None):
        config, passed = load_config(*args.config), None
    else:
        passed = _json_argument("--settings", args.settings)
        config = validate(passed)
    watch = getattr(args, "watch", None)
    if watch is None and hasattr(args, "watch"):  # only the training commands take the watch keys
        watch = os.environ.get(WATCH_ENVIRONMENT)
    if watch is not None:
        watched = _json_argument("--watch", watch)
        if not _only_watch_keys(watched):  # a recipe key here would change results behind the rerun trigger
            raise ConfigError(
                f"--watch (or ${WATCH_ENVIRONMENT}) takes only {_watch_key_names()}, as JSON; got {watch}"
            )
        config = validate(deep_merge(config, watched))
    # a rule's slice: a key it did not pass is an error where read, not the schema's default
    return config if passed is None else strict_slice(config, passed)


def _only_watch_keys(settings: object) -> bool:
    return isinstance(settings, dict) and all(
        section in WATCH_KEYS and isinstance(entries, dict) and set(entries) <= set(WATCH_KEYS[section])
        for section, entries in settings.items()
    )


def _watch_key_names() -> str:
    return ", ".join(f"{section}.{key}" for section, names in WATCH_KEYS.items() for key in names)


def _json_argument(name: str, text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{name} is not valid JSON ({error.msg})") from None
