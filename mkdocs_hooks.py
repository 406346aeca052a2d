"""MkDocs hooks for paykit's site (mkdocs.yml ``hooks``).

README.md is the home page and CHANGELOG.md a page, without copies in docs/:
they are added as ``index.md`` and ``changelog.md``, with their links, written
for GitHub from the repository's root, rewritten for the site
(``docs/orders.md`` -> ``orders.md``, ``CHANGELOG.md`` -> ``changelog.md``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent
ROOT_PAGES = {"README.md": "index.md", "CHANGELOG.md": "changelog.md"}
_LINK = re.compile(r"\]\((?!https?://|#)([^)\s]+)\)")


def rewrite_root_links(markdown: str) -> str:
    """Links of a page at the repository root, made relative to docs/."""

    def fix(match: re.Match[str]) -> str:
        target = match[1]
        path, _, anchor = target.partition("#")
        if path in ROOT_PAGES:
            path = ROOT_PAGES[path]
        elif path.startswith("docs/"):
            path = path.removeprefix("docs/")
        suffix = f"#{anchor}" if anchor else ""
        return f"]({path}{suffix})"

    return _LINK.sub(fix, markdown)


def on_files(files: Files, config: Any) -> Files:
    """Add README.md and CHANGELOG.md as generated pages."""
    for source, dest in ROOT_PAGES.items():
        content = rewrite_root_links((ROOT / source).read_text(encoding="utf-8"))
        files.append(File.generated(config, dest, content=content))
    return files
