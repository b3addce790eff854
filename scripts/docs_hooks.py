"""MkDocs hooks for the documentation site (``hooks:`` in ``mkdocs.yml``).

The site's pages include README sections between snippet markers
(``<!-- --8<-- [start:NAME] -->``), so the README stays the one source of its text.
Its links were written for one long page (``[Behind a proxy](#behind-a-proxy)``) and
for the repository (``[SECURITY.md](SECURITY.md)``); on the site the sections are
spread over several pages. After the snippets are expanded, this points each such
link at the page that now holds its target, so every link resolves in the built site
(``mkdocs build --strict`` checks anchors too).
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from markdown import Extension, Markdown
from markdown.extensions.toc import slugify
from markdown.preprocessors import Preprocessor

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"--8<--\s+\[(start|end):([a-z][-_0-9a-z]*)\]")
INCLUDE = re.compile(r'^\s*--8<--\s+"([^":]+)(?::([a-z][-_0-9a-z]*))?"\s*$', re.MULTILINE)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
LINK = re.compile(r"\]\((#[^)\s]+|[A-Za-z0-9_.-]+\.md(?:#[^)\s]+)?)\)")

#: The page being converted (set by on_page_markdown, read by the preprocessor).
current: dict[str, str] = {"page": ""}
#: Anchor of a README heading -> the page that includes it; a whole included file ->
#: the page that includes it.
anchors: dict[str, str] = {}
whole_files: dict[str, str] = {}


def _readme_sections(path: Path) -> dict[str, list[str]]:
    """Heading anchors of each marked section of a file."""
    sections: dict[str, list[str]] = {}
    open_sections: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        marker = MARKER.search(line)
        if marker:
            kind, name = marker.groups()
            if kind == "start":
                open_sections.add(name)
                sections.setdefault(name, [])
            else:
                open_sections.discard(name)
            continue
        heading = None if fenced else HEADING.match(line)
        if heading:
            anchor = slugify(heading.group(1).replace("`", ""), "-")
            for name in open_sections:
                sections[name].append(anchor)
    return sections


def on_config(config: Any) -> Any:
    """Map README anchors and included files to pages; install the link rewriter."""
    docs = Path(config["docs_dir"])
    sections_of: dict[str, dict[str, list[str]]] = {}
    for page in sorted(docs.rglob("*.md")):
        name = page.relative_to(docs).as_posix()
        for source, section in INCLUDE.findall(page.read_text(encoding="utf-8")):
            if not section:
                whole_files[source] = name
                continue
            if source not in sections_of:
                sections_of[source] = _readme_sections(ROOT / source)
            for anchor in sections_of[source].get(section, []):
                anchors.setdefault(anchor, name)
    config["markdown_extensions"].append(_RewriteLinks())
    return config


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Remember which page is being converted."""
    current["page"] = page.file.src_uri
    return markdown


CODE = re.compile(r"<code>[^<]*</code>")


def on_page_content(html: str, **kwargs: Any) -> str:
    """Unescape ``\\|`` in inline code spans: GitHub needs the escape inside a table's code
    span, Python-Markdown keeps it as text."""
    return CODE.sub(lambda m: m.group(0).replace("\\|", "|"), html)


def _target(link: str, page: str) -> str:
    if link.startswith("#"):
        owner = anchors.get(link[1:])
        if owner is None or owner == page:
            return link
        path, fragment = owner, link
    else:
        file, _, anchor = link.partition("#")
        if file not in whole_files:
            return link
        path, fragment = whole_files[file], f"#{anchor}" if anchor else ""
    return posixpath.relpath(path, posixpath.dirname(page) or ".") + fragment


class _Rewriter(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        page = current["page"]
        return [LINK.sub(lambda m: f"]({_target(m.group(1), page)})", line) for line in lines]


class _RewriteLinks(Extension):
    def extendMarkdown(self, md: Markdown) -> None:
        # After pymdownx.snippets (priority 32) has expanded the includes.
        md.preprocessors.register(_Rewriter(md), "routecache_links", 31)
