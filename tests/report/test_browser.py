"""The pages in a real browser: Debian's Chromium driven by Playwright, from file:// URLs.

Outside CI, where Chromium is absent, these tests skip and say how to install it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from slowvae.report import write_run_report, write_study_report

CHROMIUM = Path(os.environ.get("SLOWVAE_CHROMIUM", "/usr/bin/chromium"))
INSTALL = "apt-get update && apt-get install -y chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

#: frames of a GIF as the browser decodes them (WebCodecs ImageDecoder)
_GIF_FRAMES = """async (img) => {
  const data = await (await fetch(img.src)).arrayBuffer();
  const decoder = new ImageDecoder({data: data, type: "image/gif"});
  await decoder.tracks.ready;
  await decoder.completed;
  return decoder.tracks.selectedTrack.frameCount;
}"""


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.skip(f"needs Chromium at {CHROMIUM} (Debian's chromium package): install it with `{INSTALL}`")
    sync_api = pytest.importorskip("playwright.sync_api", reason='needs Playwright for Python: pip install -e ".[dev]"')
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@dataclass
class OpenPage:
    """A page opened from a file with everything it tried to load and every error it logged."""

    page: Any
    url: str
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def left_the_page(self) -> list[str]:
        return [u for u in self.requests if u != self.url and not u.startswith("data:")] + self.blocked

    def column(self, table: str, index: int) -> list[str]:
        return self.page.eval_on_selector_all(
            f"#{table} tbody tr",
            f"rows => rows.map(r => r.cells[{index}].getAttribute('data-value') ?? r.cells[{index}].textContent.trim())",
        )


def open_file(browser, path: Path) -> OpenPage:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = OpenPage(context.new_page(), path.resolve().as_uri())

    def guard(route):  # anything but the page itself is refused and recorded
        if route.request.url == opened.url:
            route.continue_()
        else:
            opened.blocked.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    opened.page.on("request", lambda r: opened.requests.append(r.url))
    opened.page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    opened.page.on("pageerror", lambda e: opened.errors.append(str(e)))
    opened.page.goto(opened.url, wait_until="load")
    return opened


def check_images(opened: OpenPage, expected: int) -> None:
    loaded = opened.page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.alt, i.complete && i.naturalWidth])")
    assert len(loaded) == expected
    assert [alt for alt, width in loaded if not width] == []


def test_run_page_in_chromium(browser, trained_run, tmp_path):
    opened = open_file(browser, write_run_report(trained_run))
    page = opened.page
    check_images(opened, 3 + 10)
    # a traversal is animated as the browser decodes it
    assert page.eval_on_selector('img[alt="traversal of z0"]', _GIF_FRAMES) == 18
    # sorting: the suite table by value, ascending then descending
    before = opened.column("suite-table", 2)
    page.click("#suite-table th:nth-child(3)")
    ascending = opened.column("suite-table", 2)
    assert [float(v) for v in ascending] == sorted(float(v) for v in before)
    page.click("#suite-table th:nth-child(3)")
    assert opened.column("suite-table", 2) == ascending[::-1]
    # hover: a factor's row lights up its latent's traversal
    latent = page.get_attribute("#factor-table tbody tr:first-child", "data-link")
    page.hover("#factor-table tbody tr:first-child")
    assert "linked" in page.get_attribute(f'.card[data-link="{latent}"]', "class")
    page.mouse.move(0, 0)
    assert "linked" not in page.get_attribute(f'.card[data-link="{latent}"]', "class")
    page.screenshot(path=str(tmp_path / "run-page.png"), full_page=True)
    assert (tmp_path / "run-page.png").stat().st_size > 50_000
    assert opened.errors == [] and opened.left_the_page() == []


def test_study_page_in_chromium(browser, study, tmp_path):
    opened = open_file(
        browser, write_study_report(study["dir"], study["name"], study["table"], study["runs"], study["points"])
    )
    page = opened.page
    check_images(opened, 2)
    assert page.eval_on_selector_all("#run-table tbody tr", "rows => rows.length") == 50
    assert page.eval_on_selector_all("#study-table tbody tr", "rows => rows.length") == 10
    headers = page.eval_on_selector_all("#run-table th", "hs => hs.map(h => h.textContent.trim())")
    mcc = headers.index("mcc")
    ids = opened.column("run-table", 0)
    page.click(f"#run-table th:nth-child({mcc + 1})")
    values = opened.column("run-table", mcc)
    numbers = [float(v) for v in values if v != ""]
    assert len(numbers) == 45 and numbers == sorted(numbers) and values[45:] == [""] * 5  # blanks last
    assert opened.column("run-table", 0) != ids
    page.click(f"#run-table th:nth-child({mcc + 1})")
    again = opened.column("run-table", mcc)
    assert [float(v) for v in again[:45]] == sorted(numbers, reverse=True) and again[45:] == [""] * 5
    page.click(f"#run-table th:nth-child({headers.index('model') + 1})")  # text columns sort too
    models = opened.column("run-table", headers.index("model"))
    assert models[:47] == sorted(models[:47]) and models[0] == "beta-vae" and models[47:] == [""] * 3
    page.screenshot(path=str(tmp_path / "study-page.png"), full_page=True)
    assert (tmp_path / "study-page.png").stat().st_size > 50_000
    assert opened.errors == [] and opened.left_the_page() == []


def test_study_runs_table_shows_every_column_at_1400_px(browser, study, tmp_path):
    """Long run ids (model-dataset-settings-seed-hash) and eight metrics fit a 1,400 px window: the Runs
    table needs no horizontal scrolling to show its last column."""
    import dataclasses

    metrics = ["mcc", "mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap", "modularity"]
    metrics += ["mcc_untrained"]
    runs = [
        dataclasses.replace(
            r,
            id=f"{r.id.split('-')[0]}-dsprites-procedural-gamma11.97-rate6.123-{r.id.split('-')[-1]}-764b18",
            scores={m: 0.123456 for m in metrics},
        )
        for r in study["runs"]
    ]
    table = {
        "rows": [dict(row, **{m: {"mean": 0.5, "std": 0.01} for m in metrics}) for row in study["table"]["rows"]],
        "selection": None,
    }
    page_path = write_study_report(study["dir"], study["name"], table, runs, None, out=tmp_path / "wide.html")
    opened = open_file(browser, page_path)
    opened.page.set_viewport_size({"width": 1400, "height": 900})
    box = opened.page.eval_on_selector("#runs .scroll", "s => [s.scrollWidth, s.clientWidth]")
    assert box[0] <= box[1], f"the Runs table is {box[0]} px wide in a {box[1]} px box: columns are hidden"
    assert opened.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
