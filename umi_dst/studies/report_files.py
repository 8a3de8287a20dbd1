"""Where a study's report goes: its figures as JSON for tools, the same as Markdown for people."""

from __future__ import annotations

from pathlib import Path

from umi_dst import strict_json


def write(stem: Path, data: dict, markdown: str) -> Path:
    """Write ``stem``.json and ``stem``.md (creating the folder); return the Markdown's path."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    strict_json.write(stem.with_suffix(".json"), data)
    path = stem.with_suffix(".md")
    path.write_text(markdown if markdown.endswith("\n") else markdown + "\n", encoding="utf-8")
    return path
