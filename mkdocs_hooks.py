"""MkDocs hooks for paykit's site (mkdocs.yml ``hooks``).

- README.md is the home page and CHANGELOG.md a page, without copies in docs/:
  they are added as ``index.md`` and ``changelog.md``.
- Links are written for GitHub, relative to the Markdown file's place in the
  repository (README.md's ``docs/orders.md``, hosts/fastapi.md's
  ``../../examples/fastapi_app.py``). Each is rewritten for the site: a page
  to its page, and any other repository file (an example, a test) to a copy
  served under ``repo/``. A link to a file that does not exist is left alone,
  so ``mkdocs build --strict`` fails on it.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent
DOCS = ROOT / "docs"
ROOT_PAGES = {"README.md": "index.md", "CHANGELOG.md": "changelog.md"}
_LINK = re.compile(r"(\]\()(?![a-z][a-z0-9+.-]*:|#)([^)\s]+)(\))")
_FENCE = re.compile(r"^( *)(```|~~~).*?^\1\2[ \t]*$", re.S | re.M)


def source_of(src_uri: str) -> Path:
    """Where the Markdown of a page of the site lives in the repository."""
    for source, dest in ROOT_PAGES.items():
        if src_uri == dest:
            return ROOT / source
    return DOCS / src_uri


def site_uri(target: Path) -> str | None:
    """The site's URI for a repository file: its page, or its copy under repo/."""
    relative = target.relative_to(ROOT).as_posix()
    if relative in ROOT_PAGES:
        return ROOT_PAGES[relative]
    if target.is_relative_to(DOCS):
        return target.relative_to(DOCS).as_posix()
    return f"repo/{relative}"


def outside_links(markdown: str, source: Path) -> list[tuple[str, Path]]:
    """(link, file) for each relative link of ``markdown`` to an existing repository file."""
    found = []
    for _, target, _ in _LINK.findall(_FENCE.sub("", markdown)):
        path = target.partition("#")[0]
        if not path:
            continue
        resolved = (source.parent / path).resolve()
        if resolved.is_file() and resolved.is_relative_to(ROOT):
            found.append((target, resolved))
    return found


def on_files(files: Files, config: Any) -> Files:
    """Add README.md and CHANGELOG.md as pages, and the repository files pages link to."""
    for source, dest in ROOT_PAGES.items():
        files.append(File.generated(config, dest, abs_src_path=str(ROOT / source)))
    copies: set[Path] = set()
    for page in list(files.documentation_pages()):
        source = source_of(page.src_uri)
        for _, target in outside_links(source.read_text(encoding="utf-8"), source):
            uri = site_uri(target)
            if uri and uri.startswith("repo/"):
                copies.add(target)
    for target in sorted(copies):
        files.append(File.generated(config, site_uri(target), abs_src_path=str(target)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Rewrite the page's repository-relative links into site-relative ones."""
    source = source_of(page.file.src_uri)
    here = posixpath.dirname(page.file.src_uri)

    def fix(match: re.Match[str]) -> str:
        target = match[2]
        path, hash_, anchor = target.partition("#")
        resolved = (source.parent / path).resolve()
        if not path or not resolved.is_file() or not resolved.is_relative_to(ROOT):
            return match[0]
        uri = site_uri(resolved)
        return f"{match[1]}{posixpath.relpath(uri, here or '.')}{hash_}{anchor}{match[3]}"

    return _LINK.sub(fix, markdown)
