"""What made a run's expensive files, recorded in them and checked against the config on
every plan.

Snakemake's own rerun triggers keep their record in `.snakemake/metadata`, which a run
copied elsewhere (`cp -a`, `rsync -a`) or a cleaned working folder does not carry. So each
expensive file carries its own provenance:

- `data/metadata.json`: the `dataset` slice and seed it was prepared with (`settings`), and
  a fingerprint of the files the source reads at `dataset.path` (`source_files`: count,
  bytes, a digest of their names, sizes and modification times, and the SHA-256 of their
  content);
- `cells/<id>/result.json`: the seed, network and training recipe (`seed`, `network`,
  `training`) and the SHA-256 of the prepared split it trained on (`data_sha256`);
- `final/<id>/metrics.json`: the same with the final recipe (`settings`, `data_sha256`).

results.stale_artefacts compares each with the config (`RECIPES` names what each depends
on) and makes a file that differs again, with a message naming the key. A key a file does
not record (written by an older popnas) is not compared; a recipe key added later
(slices.LATER_KEYS) reads as its default on both sides.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from popnas_steps.slices import LATER_KEYS, params_text
from popnas_steps.sources import DatasetError, source_files

# The config entries each artefact depends on: the rules pass exactly these as their params
# (rules/common.smk, config_slice), and the files record them.
RECIPES: dict[str, tuple[str, ...]] = {
    "data": ("dataset", "seed"),
    "cell": ("seed", "network", "training"),
    "final": ("seed", "network", "training", "final.epochs", "final.first_period"),
}


def recipe(config: dict, kind: str) -> dict:
    """The entries of a validated `config` that the `kind` of artefact depends on, as recorded."""
    return json.loads(params_text(config, *RECIPES[kind]))


Difference = tuple[str, object, object]  # (key, recorded, in the config)


def differences(recorded: dict, expected: dict) -> list[Difference]:
    """The entries recorded and expected that differ, sections compared key by key."""
    found = []
    for section, value in expected.items():
        if section not in recorded:
            continue
        old = recorded[section]
        if isinstance(value, dict) and isinstance(old, dict):
            old, value = _with_later_defaults(section, old), _with_later_defaults(section, value)
            found += [
                (f"{section}.{key}", old[key], value[key]) for key in value if key in old and old[key] != value[key]
            ]
        elif old != value:
            found.append((section, old, value))
    return found


def _with_later_defaults(section: str, entries: dict) -> dict:
    return {**LATER_KEYS.get(section, {}), **entries}


def describe(difference: Difference) -> str:
    key, recorded, expected = difference
    if key == "data_sha256":
        return f"another split of the data (SHA-256 {recorded[:12]}..., the run's data has {expected[:12]}...)"
    return f"{key} = {json.dumps(recorded)}, but the config has {json.dumps(expected)}"


# --- the data's source ----------------------------------------------------------------------

# A fingerprint's `scope`: only the files the source reads (sources.source_files), so that a
# README, a `lost+found` or anything else beside them, readable or not, is none of its
# business. A fingerprint without it (an older popnas) covers every file under the path but
# hidden ones, and is compared with that.
READ_SCOPE = "read"


class SourceError(ValueError):
    """A source file that cannot be read."""


def source_fingerprint(path: str | Path | None, files: list[Path] | None = None) -> dict | None:
    """The fingerprint of the source at `path`: of `files`, the ones it reads, where given;
    else of every file under it but hidden ones (as an older popnas recorded it). None for a
    source without files (built in, or a download). A SourceError names a file that cannot
    be read."""
    scope = READ_SCOPE if files is not None else None
    if files is None:
        files = _tree_files(path)
    if files is None:
        return None
    root = Path(path).expanduser()
    content = hashlib.sha256()
    for file in files:
        content.update(_name(root, file).encode() + b"\0")
        try:
            with open(file, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    content.update(chunk)
        except OSError as error:
            raise SourceError(f"'{file}' cannot be read ({error.strerror})") from None
    return {**_listing(root, files), "sha256": content.hexdigest(), **({"scope": scope} if scope else {})}


def source_change(recorded: dict | None, path: str | Path | None, files: list[Path] | None = None) -> str | None:
    """How the source at `path` differs from its `recorded` fingerprint, or None when it does
    not, when nothing was recorded, or when the source is not there to compare (a run copied
    without its raw data keeps its prepared split). `files` are the ones it reads now, which
    a fingerprint of that scope is compared with (one of an older popnas: every file)."""
    if recorded is None:
        return None
    if recorded.get("scope") != READ_SCOPE:
        files = _tree_files(path)
    if files is None:
        return None
    root = Path(path).expanduser()
    changed = f"dataset.path '{path}' changed since the data was prepared"
    try:
        if _listing(root, files)["listing"] == recorded.get("listing"):
            return None  # names, sizes and times unchanged: its content is not read again
        now = source_fingerprint(path, files)  # the recorded scope's files: their digest is comparable
    except SourceError as error:  # the prepare job says so too, before it reads anything
        return f"{changed}, and {error}"
    if now["sha256"] == recorded.get("sha256"):
        return None  # copied or touched, the same bytes
    return (
        f"{changed}: {recorded.get('files')} file(s) of {recorded.get('bytes')} bytes then, "
        f"{now['files']} of {now['bytes']} now"
    )


def _tree_files(path: str | Path | None) -> list[Path] | None:
    """Every file under `path` but hidden ones (the scope of an older popnas's fingerprint)."""
    if not path:
        return None
    root = Path(path).expanduser()
    if root.is_file():
        return [root]
    if root.is_dir():
        return sorted(
            file
            for file in root.rglob("*")
            if file.is_file() and not any(part.startswith(".") for part in file.relative_to(root).parts)
        )
    return None


def _listing(root: Path, files: list[Path]) -> dict:
    listing = hashlib.sha256()
    total = 0
    for file in files:
        try:
            stat = file.stat()
        except OSError as error:
            raise SourceError(f"'{file}' cannot be read ({error.strerror})") from None
        total += stat.st_size
        listing.update(f"{_name(root, file)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return {"files": len(files), "bytes": total, "listing": listing.hexdigest()}


def _name(root: Path, file: Path) -> str:
    """A source file's name within its source: its path under the folder, or its own name."""
    return file.name if file == root else str(file.relative_to(root))


def data_differences(metadata: dict, config: dict) -> list[str]:
    """Why the prepared data of `metadata` is not what `config` prepares: each key that
    differs, and a changed source."""
    recorded = metadata.get("settings")
    if recorded is None:  # prepared by an older popnas: the fields it kept
        kept = {key: metadata[key] for key in ("source", "path", "val_fraction") if key in metadata}
        if metadata.get("test_fraction") is not None:
            kept["test_fraction"] = metadata["test_fraction"]
        recorded = {"dataset": kept, **({"seed": metadata["seed"]} if "seed" in metadata else {})}
    reasons = [describe(difference) for difference in differences(recorded, recipe(config, "data"))]
    fingerprint, path = metadata.get("source_files"), config["dataset"].get("path")
    try:
        files = source_files(config["dataset"]) if fingerprint and fingerprint.get("scope") == READ_SCOPE else None
        changed = source_change(fingerprint, path, files)
    except DatasetError as error:  # the source cannot be read as it was: preparing it again says so
        changed = f"dataset.path '{path}' changed since the data was prepared: {error}"
    return reasons + ([changed] if changed else [])


def made_differences(made: dict, expected: dict, data_sha256: str | None) -> list[Difference]:
    """How what a result or a final training recorded (`made`) differs from the `expected`
    recipe and the run's prepared split."""
    found = differences(made, expected)
    recorded_data = made.get("data_sha256")
    if recorded_data and data_sha256 and recorded_data != data_sha256:
        found.append(("data_sha256", recorded_data, data_sha256))
    return found
