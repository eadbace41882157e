"""The README and docs/ stay true to the repository: the map names every tracked top-level
entry, and every relative link leads to a file that exists and, with an anchor, to a heading
of that file."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "BENCHMARKS.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
PAGES += [ROOT / "config" / "README.md", ROOT / "bench" / "README.md"]
NOT_IN_MAP = {".gitignore", ".snakemake-workflow-catalog.yml", "LICENSE"}  # the map's own text names LICENSE
LINK = re.compile(r"\]\(([^)\s]+)\)")


def tracked_top_level() -> set[str]:
    try:
        listing = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"no git checkout to list: {error}")
    return {line.split("/")[0] for line in listing.splitlines() if line}


def anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to '-'."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def prose(page: Path) -> str:
    """The page without its code blocks, where a '#' is no heading and '](' no link."""
    return re.sub(r"```.*?```", "", page.read_text(), flags=re.S)


@cache  # a page is linked to many times (BENCHMARKS.md's sections)
def anchors(page: Path) -> set[str]:
    return {anchor(line.lstrip("#")) for line in prose(page).splitlines() if re.match(r"#{1,6} ", line)}


def test_the_readme_map_names_every_tracked_top_level_entry():
    readme = ROOT.joinpath("README.md").read_text()
    repository_map = readme[readme.index("## Repository map") :]
    named = set(re.findall(r"`\.?([\w.\-]+)[/`]", repository_map))
    entries = tracked_top_level() - NOT_IN_MAP - {p.name for p in ROOT.glob("*.md")}
    missing = sorted(e for e in entries if e.lstrip(".") not in named)
    assert not missing, f"README.md's repository map does not name {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page: Path):
    broken = []
    for target in LINK.findall(prose(page)):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{page.relative_to(ROOT)}: {broken}"
