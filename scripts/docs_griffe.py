"""A griffe extension for the documentation site: routecache's docstrings use a few
reStructuredText forms (``:class:`~x.Y``` roles, ``Example::`` literal blocks) that
Markdown would print as they are. This rewrites them into Markdown before
mkdocstrings renders them; the docstrings in the code stay as they are.

Loaded by ``mkdocs.yml`` (``plugins: mkdocstrings: handlers: python: options:
extensions``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|meth|func|mod|attr|data|exc|obj):`(~?)([^`]+)`")


def _role(match: re.Match[str]) -> str:
    short, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def markdown(text: str) -> str:
    """The docstring ``text`` with roles as code spans and ``::`` blocks fenced."""
    lines = ROLE.sub(_role, text).split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.rstrip().endswith("::"):
            out.append(line)
            i += 1
            continue
        head = line.rstrip()[:-2].rstrip()
        if head.strip():
            out.append(head + ":")
        base = _indent(line)
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        block_start = j
        while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > base):
            j += 1
        block = lines[block_start:j]
        while block and not block[-1].strip():
            block.pop()
        if not block:
            i += 1
            continue
        depth = min(_indent(b) for b in block if b.strip())
        pad = " " * base
        out.append("")
        out.append(pad + "```")
        out.extend(pad + b[depth:] if b.strip() else "" for b in block)
        out.append(pad + "```")
        out.append("")
        i = j
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Rewrites every docstring's reStructuredText roles and literal blocks."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Convert ``obj``'s docstring once the tree is complete."""
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
