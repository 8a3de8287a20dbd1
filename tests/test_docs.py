"""The README and the reference under docs/: every link resolves inside the repository, to a
file that exists and, with a ``#fragment``, to a heading of that file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def links(document: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", document.read_text(encoding="utf-8")))


def anchors(document: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", document.read_text(encoding="utf-8")), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_the_reference_exists_and_the_readme_links_it():
    readme_links = set(links(ROOT / "README.md"))
    for name in ("contract.md", "seed-format.md", "backends.md", "campaign-report.md"):
        assert f"docs/{name}" in readme_links, f"README does not link docs/{name}"
    assert not any("shared/" in link for link in readme_links), (
        "the contract lives in docs/, not outside the repository"
    )


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_link_resolves_inside_the_repository(document):
    for link in links(document):
        assert not re.match(r"[a-z]+:", link), f"{document.name}: {link} leaves the repository"
        path, _, fragment = link.partition("#")
        target = (document.parent / path).resolve() if path else document
        assert target.is_relative_to(ROOT), f"{document.name}: {link} points outside the repository"
        assert target.exists(), f"{document.name}: {link} does not exist"
        if fragment:
            assert fragment in anchors(target), f"{document.name}: {link}: no heading #{fragment} in {target.name}"


@pytest.mark.parametrize("command", [[], ["run"], ["replay"]], ids=lambda c: " ".join(["umi-dst", *c]))
def test_help_epilogues_point_at_the_reference(command, capsys):
    from umi_dst import cli

    with pytest.raises(SystemExit):
        cli.main([*command, "--help"])
    named = re.findall(r"docs/[\w.-]+\.md", capsys.readouterr().out)
    assert {f"docs/{name}" for name in ("contract.md", "seed-format.md", "backends.md", "campaign-report.md")} <= set(
        named
    )
    assert all((ROOT / path).is_file() for path in named)


def test_the_docs_index_links_every_page():
    index = ROOT / "docs" / "index.md"
    linked = {(index.parent / link.partition("#")[0]).resolve() for link in links(index)}
    pages = {path.resolve() for path in (ROOT / "docs").glob("*.md")} - {index.resolve()}
    assert sorted(path.name for path in pages - linked) == [], "docs/index.md does not link these pages"
