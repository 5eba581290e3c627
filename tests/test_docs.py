"""The documentation site: `mkdocs build --strict` passes, and the built site asks no other host for anything.

Links in the text (to papers, to the theme's home page) are fine; what would make a reader's browser
fetch from another host is not: scripts, stylesheets, images, frames, CSS imports and url()s, web fonts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("mkdocs", reason="the documentation site needs the docs extra: pip install -e '.[docs]'")
pytest.importorskip("material", reason="the documentation site needs the docs extra: pip install -e '.[docs]'")
pytest.importorskip("mkdocstrings_handlers.python", reason="pip install -e '.[docs]'")

ROOT = Path(__file__).resolve().parents[1]
#: (tag, attribute) pairs whose URL the browser fetches when the page loads
FETCHED = {("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src"), ("source", "src"), ("embed", "src")}
#: CSS that fetches: @import and url() of an absolute http(s) or protocol-relative URL
CSS_FETCH = re.compile(r"""@import\s+(?:url\()?\s*['"]?\s*(?:https?:)?//|url\(\s*['"]?\s*(?:https?:)?//""", re.I)
FONT_HOSTS = re.compile(r"fonts\.googleapis\.com|fonts\.gstatic\.com|use\.typekit\.net", re.I)


def _external(url: str) -> bool:
    """Whether a URL points at another host (http(s) or protocol-relative)."""
    return bool(re.match(r"\s*(https?:)?//", url, re.I))


class _Fetches(HTMLParser):
    """Collects the URLs a page makes the browser fetch, and the inline CSS it carries."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.css: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and (tag, name) in FETCHED:
                self.urls.append(f"<{tag} {name}={value}>")
            if value and name == "style":
                self.css.append(value)
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.css.append(data)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built with `mkdocs build --strict` into a temporary directory."""
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--quiet",
            "-f",
            str(ROOT / "mkdocs.yml"),
            "-d",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def test_site_builds_every_page(site: Path) -> None:
    nav = ["getting-started", "architecture", "benchmarks", "guide/training", "guide/studies", "model"]
    for page in nav:
        assert (site / page / "index.html").is_file(), page
    # the API reference is generated from the docstrings, not empty pages
    api = (site / "api" / "metrics" / "index.html").read_text(encoding="utf-8")
    assert "compute_suite" in api and "samples_needed" in api
    # a metric function shadowed by its own module (slowvae.metrics.mcc) is rendered too
    assert 'id="slowvae.metrics.mcc.mcc"' in api and 'id="slowvae.metrics.udr.udr"' in api
    assert "train" in (site / "api" / "train" / "index.html").read_text(encoding="utf-8")


def test_site_makes_no_request_to_another_host(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20
    bad: list[str] = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        parser = _Fetches()
        parser.feed(text)
        bad += [f"{page.relative_to(site)}: {url}" for url in parser.urls if _external(url.split("=", 1)[1])]
        bad += [f"{page.relative_to(site)}: CSS {css[:80]}" for css in parser.css if CSS_FETCH.search(css)]
        if FONT_HOSTS.search(text):
            bad.append(f"{page.relative_to(site)}: names a web-font host")
    for sheet in site.rglob("*.css"):
        css = sheet.read_text(encoding="utf-8")
        if CSS_FETCH.search(css) or FONT_HOSTS.search(css):
            bad.append(f"{sheet.relative_to(site)}: fetches from another host")
    assert not bad, "\n".join(bad)


def test_every_image_on_the_site_is_there(site: Path) -> None:
    """mkdocs does not check image links; the benchmark figures come from ``benchmarks/results/``
    through ``docs/_hooks/benchmark_figures.py``, so a renamed figure would leave a broken image."""
    missing, figures = [], 0
    for page in sorted(site.rglob("*.html")):
        parser = _Fetches()
        parser.feed(page.read_text(encoding="utf-8"))
        for tag in parser.urls:
            src = tag.split("=", 1)[1].rstrip(">")
            if not tag.startswith("<img") or _external(src) or src.startswith("data:"):
                continue
            figures += "figures/" in src
            if not (page.parent / src).resolve().is_file():
                missing.append(f"{page.relative_to(site)}: {src}")
    assert not missing, "\n".join(missing)
    assert figures >= 2  # the long-budget page shows its recorded figures
    assert (site / "figures" / "long-budget" / "long-budget-mcc-trajectory.png").is_file()


def test_the_checker_sees_an_external_script() -> None:
    parser = _Fetches()
    parser.feed(
        '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto"><script src="//cdn.x/y.js"></script>'
    )
    parser.feed("<style>@import url('https://cdn.x/a.css');</style><a href='https://arxiv.org'>paper</a>")
    assert [url for url in parser.urls if _external(url.split("=", 1)[1])] == [
        "<link href=https://fonts.googleapis.com/css?family=Roboto>",
        "<script src=//cdn.x/y.js>",
    ]
    assert any(CSS_FETCH.search(css) for css in parser.css)
    assert not CSS_FETCH.search("background: url(data:image/svg+xml;base64,AAAA)")
