"""The documentation names only what exists.

For README.md and every Markdown file under docs/:

- every relative link points to an existing file, and its ``#anchor`` to a
  heading of that file;
- every code span naming a repository path (`src/...`, `tests/...`, `docs/...`,
  `examples/...`, `benchmarks/...`) exists, down to the test function of a
  ``path.py::test_name`` and the function of a ``tests/factories.order``;
- every ``page.md, "Section"`` reference names a heading of that page, and no
  page cites "DESIGN §n" (design notes that are not in the repository);
- every page under docs/ is in mkdocs.yml's nav, and the nav names only pages
  that exist;
- docs/testing.md's table of skipped doc blocks lists exactly the
  ``<!-- skip: next "..." -->`` directives of the pages.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted([ROOT / "README.md", *DOCS.rglob("*.md")])
GENERATED = {"index.md": ROOT / "README.md", "changelog.md": ROOT / "CHANGELOG.md"}

_FENCE = re.compile(r"^( *)(```|~~~).*?^\1\2[ \t]*$", re.S | re.M)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
_REPO_PATH = re.compile(r"^(?:src|tests|docs|examples|benchmarks)/\S*")
_SECTION_REF = re.compile(r"([\w./-]+\.md),\s+\"([^\"]+)\"")
# <!-- skip: next "reason" -->, or <!-- skip: next if(condition, "reason") -->
_SKIP = re.compile(r"<!--\s*skip:\s*next\s+(?:if\(.*?,\s*)?\"([^\"]+)\"\)?\s*-->")


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def prose(text: str) -> str:
    """The text without fenced blocks and HTML comments (which may hold code)."""
    return _COMMENT.sub("", _FENCE.sub("", text))


def slugs(heading: str) -> set[str]:
    """The anchors a heading gets: MkDocs' toc slug and GitHub's."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    mkdocs = re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", plain).strip().lower())
    github = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
    return {mkdocs, github}


def headings(path: Path) -> list[str]:
    return _HEADING.findall(prose(path.read_text(encoding="utf-8")))


def plain(heading: str) -> str:
    return " ".join(re.sub(r"[`*]", "", heading).lower().split())


def names_heading(section: str, path: Path) -> bool:
    """``"The flow"`` names ``## The flow: reserve, commit, then charge`` too."""
    wanted = plain(section)
    return any(
        text == wanted or text.startswith((wanted + ":", wanted + " ("))
        for text in map(plain, headings(path))
    )


def without_code_spans(text: str) -> str:
    return re.sub(r"`[^`\n]+`", "", text)


def anchors(path: Path) -> set[str]:
    return {slug for heading in headings(path) for slug in slugs(heading)}


def page_ids() -> list[str]:
    return [rel(p) for p in PAGES]


@pytest.mark.parametrize("name", page_ids())
def test_relative_links_point_to_existing_files_and_headings(name: str) -> None:
    page = ROOT / name
    text = _CODE_SPAN.sub("", prose(page.read_text(encoding="utf-8")))
    broken = []
    for target in _LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            broken.append(f"{target}: no file {path_part}")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {rel(resolved)}")
    assert not broken, f"{name}: " + "; ".join(broken)


def _repo_path_exists(span: str) -> bool:
    path, _, member = span.partition("::")
    if "..." in path or "*" in path:
        return True  # an elision or a pattern, not a path
    target = ROOT / path.rstrip("/")
    if not target.exists():
        # `tests/factories.order`: a module's attribute, dotted
        module, dot, attribute = path.partition(".")
        candidate = ROOT / f"{module}.py"
        if not (dot and attribute and candidate.is_file()):
            return False
        target, member = candidate, attribute
    if member:
        name = member.split("[")[0].split("::")[-1]
        return bool(
            re.search(
                rf"^\s*(?:async\s+)?(?:def|class)\s+{name}\b|^{name}\s*[:=]",
                target.read_text(encoding="utf-8"),
                re.M,
            )
        )
    return True


@pytest.mark.parametrize("name", page_ids())
def test_code_spans_naming_repository_paths_exist(name: str) -> None:
    text = prose((ROOT / name).read_text(encoding="utf-8"))
    missing = []
    for _, span in _CODE_SPAN.findall(text):
        words = span.strip().split()
        if words and _REPO_PATH.match(words[0]) and not _repo_path_exists(words[0]):
            missing.append(words[0])
    assert not missing, f"{name} names paths that do not exist: {missing}"


@pytest.mark.parametrize("name", page_ids())
def test_paths_in_prose_and_skip_reasons_exist(name: str) -> None:
    """``docs/x.md``, ``tests/...py`` or ``orders.md`` written as plain text."""
    page = ROOT / name
    raw = page.read_text(encoding="utf-8")
    text = re.sub(r"\]\([^)]*\)", "]", without_code_spans(prose(raw)))
    text += " " + " ".join(_SKIP.findall(raw))
    missing = [
        path
        for path in re.findall(
            r"(?<![\w/.-])((?:src|tests|docs|examples|benchmarks)/[\w/.-]*\w)", text
        )
        if not _repo_path_exists(path)
    ]
    for page_name in re.findall(r"(?<![\w/.-])([\w-]+\.md)\b", text):
        if not any(
            p.is_file() for p in (page.parent / page_name, DOCS / page_name, ROOT / page_name)
        ):
            missing.append(page_name)
    assert not missing, f"{name} names files that do not exist: {missing}"


@pytest.mark.parametrize("name", page_ids())
def test_section_references_name_existing_headings(name: str) -> None:
    page = ROOT / name
    text = " ".join(without_code_spans(prose(page.read_text(encoding="utf-8"))).split())
    missing = []
    for target, section in _SECTION_REF.findall(text):
        candidates = [page.parent / target, ROOT / target, DOCS / target]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            missing.append(f"{target} (no such page)")
        elif not names_heading(section, found):
            missing.append(f'{target}, "{section}"')
    assert not missing, f"{name} refers to sections that do not exist: {missing}"


@pytest.mark.parametrize("name", page_ids())
def test_no_page_cites_a_document_outside_the_repository(name: str) -> None:
    text = prose((ROOT / name).read_text(encoding="utf-8"))
    assert not re.findall(r"DESIGN\s*§\s*\d+", text), f"{name} cites the design notes"


def nav_pages() -> list[str]:
    """The .md files mkdocs.yml's nav names (read without a YAML parser)."""
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = text[text.index("\nnav:") :]
    return re.findall(r"^\s*-\s+(?:[^:\n]+:\s+)?([\w./-]+\.md)\s*$", nav, re.M)


def test_every_docs_page_is_in_the_nav_and_the_nav_names_only_pages() -> None:
    listed = nav_pages()
    on_disk = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert len(listed) == len(set(listed)), "a page is twice in the nav"
    missing = on_disk - set(listed)
    assert not missing, f"pages missing from mkdocs.yml's nav: {sorted(missing)}"
    absent = [p for p in listed if p not in on_disk and p not in GENERATED]
    assert not absent, f"mkdocs.yml's nav names pages that do not exist: {absent}"


def test_testing_md_lists_every_skipped_doc_block() -> None:
    # A page is named as from docs/ (hosts/worker.md), so the name is a link that resolves.
    directives = {
        (page.relative_to(DOCS).as_posix() if page.is_relative_to(DOCS) else page.name, reason)
        for page in PAGES
        for reason in _SKIP.findall(without_code_spans(page.read_text(encoding="utf-8")))
    }
    text = (DOCS / "testing.md").read_text(encoding="utf-8")
    table = text[text.index("<!-- doc-skips: start -->") : text.index("<!-- doc-skips: end -->")]
    rows = re.findall(r"^\|\s*([\w./-]+\.md)\s*\|[^|]*\|\s*(.+?)\s*\|\s*$", table, re.M)
    assert len(rows) == len(set(rows)), "a row is twice in docs/testing.md's table"
    assert set(rows) == directives
