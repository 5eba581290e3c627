"""The study page: the table with its selection and figures, every run linked, failures listed."""

from __future__ import annotations

import re

import pytest

from slowvae.errors import SlowVAEError
from slowvae.report import write_study_report

from .conftest import FAILED, MISSING
from .test_run_page import external_urls, images


@pytest.fixture(scope="module")
def study_page(study):
    path = write_study_report(study["dir"], study["name"], study["table"], study["runs"], study["points"])
    return path, path.read_text(), study["no_page"]


def test_fifty_run_page_is_self_contained_and_under_5_mb(study_page, study):
    path, html, _ = study_page
    assert len(study["runs"]) == 50 and path == study["dir"] / "report.html"
    assert path.stat().st_size < 5_000_000
    links = external_urls(html)  # the only URLs besides data URIs: relative links to run pages
    assert links and all(re.fullmatch(r"runs/[\w.-]+/report\.html", u) for u in links)
    assert [alt for alt, _ in images(html)] == ["mcc per table row", "mig per table row"]


def test_run_table_lists_and_links_every_run(study_page, study):
    path, html, fresh = study_page
    table = html[html.index('id="run-table"') : html.index("</table>", html.index('id="run-table"'))]
    rows = re.findall(r"<tr title=", table)
    assert len(rows) == 50
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', table)
    on_disk = [r for r in study["runs"] if r.path is not None]
    assert len(links) == len(on_disk) == 50 - len(MISSING)
    for href, run_id in links:
        assert href == f"runs/{run_id}/report.html" and (path.parent / href).is_file()
    assert fresh and all((p / "report.html").is_file() for p in fresh)  # missing run pages were written
    for name in ("gamma", "beta"):  # the hyperparameter that varies has a column
        assert f'<th class="num">{name}</th>' in table


def test_failed_and_missing_runs_with_errors(study_page):
    _, html, _ = study_page
    section = html[html.index('id="problems"') :]
    for error in FAILED.values():
        assert error in section
    for model, value, seed in MISSING:
        key = "gamma" if model == "slowvae" else "beta"
        assert f"{model}-{key}{value:g}-seed{seed}" in section
    assert section.count("not started yet") == len(MISSING)


def test_study_table_with_selection(study_page, study):
    _, html, _ = study_page
    table = html[html.index('id="study-table"') : html.index("</table>", html.index('id="study-table"'))]
    assert table.count("<tr") == 1 + 10
    assert table.count('class="selected"') == 2 and "Selection: UDR" in html
    row = study["table"]["rows"][3]  # slowvae gamma 8: one failed run
    assert f"{row['mcc']['mean']:.3f}" in table and f"± {row['mcc']['std']:.3f}" in table
    assert '<span class="tag bad">1</span>' in table and '<span class="tag warn">1</span>' in table


def test_page_without_finished_runs_and_bad_dirs(tmp_path):
    (tmp_path / "study.toml").write_text('name = "empty"\n')
    html = write_study_report(tmp_path, "empty", {"rows": [], "selection": None}, []).read_text()
    assert "no run has finished" in html and "<h1>empty</h1>" in html
    with pytest.raises(SlowVAEError, match="not a study directory"):
        write_study_report(tmp_path / "nope", "nope", {"rows": [], "selection": None}, [])


def test_page_elsewhere_links_back_to_the_run_pages(study, tmp_path):
    out = write_study_report(
        study["dir"],
        study["name"],
        study["table"],
        study["runs"],
        study["points"],
        out=tmp_path / "pages" / "study.html",
    )
    links = re.findall(r'<a href="([^"]+)">', out.read_text())
    assert len(links) > 40 and all(not link.startswith("runs/") for link in links)
    assert all((out.parent / link).resolve().is_file() for link in links)
