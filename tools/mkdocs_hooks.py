"""MkDocs hooks for the docs site (mkdocs.yml ``hooks:``).

The site's home page, the contributing guide and the changelog live at the repository's
root (README.md, CONTRIBUTING.md, CHANGELOG.md), where a reader of the repository and of
the package index finds them. :func:`on_files` adds them to the site as ``index.md``,
``contributing.md`` and ``changelog.md``, with their links into ``docs/`` rewritten to
the site's pages, so there is one copy of each text.

A page may link to a file of the repository that is not a page (``../benchmarks/workloads/``,
a source file): the site cannot serve it, and the docs never link outside the repository,
so :func:`on_page_markdown` turns such a link into its text and the file's repository path.
The API reference is generated from docstrings written with Sphinx roles
(``:class:`Broker```): :func:`on_page_content` shows them as code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent

#: repository file -> the page it becomes on the site
ROOT_PAGES = {
    "README.md": "index.md",
    "CONTRIBUTING.md": "contributing.md",
    "CHANGELOG.md": "changelog.md",
}

_LINK = re.compile(r"\]\((?!https?://|#)([^)\s]+)\)")
_TEXT_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)")


def site_link(target: str) -> str:
    """A link written from the repository's root, as the site page's link."""
    path, hash_, anchor = target.partition("#")
    if path.startswith("docs/"):
        path = path[len("docs/") :]
    elif path in ROOT_PAGES:
        path = ROOT_PAGES[path]
    elif path and not path.startswith(("/", "mailto:")):
        path = "../" + path  # another repository file (LICENSE, ...): see on_page_markdown
    return path + hash_ + anchor


def root_page(name: str) -> str:
    """The Markdown of the repository-root file ``name`` with its links made site links."""
    text = (ROOT / name).read_text(encoding="utf-8")
    return _LINK.sub(lambda m: f"]({site_link(m.group(1))})", text)


def _repository_file(page_src: str, target: str) -> str | None:
    """The repository path a page's relative link points at, when it leaves docs/."""
    path = target.partition("#")[0]
    if not path or "://" in path or path.startswith(("/", "mailto:")):
        return None
    resolved = (ROOT / "docs" / page_src).parent.joinpath(path).resolve()
    try:
        inside = resolved.relative_to(ROOT)
    except ValueError:
        return None
    if inside.parts[:1] == ("docs",) or not resolved.exists():
        return None  # a page or a missing file: mkdocs checks those
    return inside.as_posix() + ("/" if resolved.is_dir() else "")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    def sub(m: re.Match[str]) -> str:
        repo_path = _repository_file(page.file.src_uri, m.group(2))
        if repo_path is None:
            return m.group(0)
        if m.group(1).strip("`") == repo_path:
            return m.group(1)  # the text already names the file
        return f"{m.group(1)} (`{repo_path}` in the repository)"

    return _TEXT_LINK.sub(sub, markdown)


#: a Sphinx cross-reference role left in a docstring (``:class:`~brokerkit.Broker```), as
#: mkdocstrings renders it: the role, then the name as code
_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|data|attr|exc|mod|obj):<code>~?([^<]*)</code>")


def on_page_content(html: str, page: Any, config: Any, files: Files) -> str:
    """The docstrings are written for Sphinx-style readers: show their roles as code."""
    return _ROLE.sub(lambda m: f"<code>{m.group(1)}</code>", html)


def on_files(files: Files, config: Any) -> Files:
    for name, page in ROOT_PAGES.items():
        files.append(File.generated(config, page, content=root_page(name)))
    return files
