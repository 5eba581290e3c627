"""The run page: its contents come from the run directory's files, it is self-contained and small."""

from __future__ import annotations

import base64
import io
import json
import re

import pytest
from PIL import Image

from slowvae.cli import main
from slowvae.config import TrainConfig
from slowvae.report import write_run_report
from slowvae.report.run_page import loss_terms, matched_order, read_log
from slowvae.rundir import init_run_dir

#: every URL-bearing attribute and CSS url() of a page
_URLS = re.compile(r"""(?:src|href|srcset|action|poster|data)\s*=\s*["']([^"']*)["']|url\(\s*["']?([^"')]*)""", re.I)
_DATA_URI = re.compile(r"^data:image/(png|gif|svg\+xml|jpeg);base64,[A-Za-z0-9+/]+=*$")


def external_urls(html: str) -> list[str]:
    """URLs of a page that are neither an unbroken base64 image data URI nor an in-page anchor."""
    urls = [a or b for a, b in _URLS.findall(html)]
    return [u for u in urls if not (_DATA_URI.match(u) or u.startswith("#") or u == "data:,")]


def images(html: str) -> list[tuple[str, bytes]]:
    """(alt, decoded bytes) of every <img> of a page, in page order."""
    found = re.findall(r'<img[^>]*src="data:image/[a-z+]+;base64,([^"]+)"[^>]*alt="([^"]*)"', html)
    return [(alt, base64.b64decode(data)) for data, alt in found]


@pytest.fixture(scope="module")
def page(trained_run):
    path = write_run_report(trained_run)
    return path, path.read_text()


def test_page_is_self_contained_and_small(page):
    path, html = page
    assert path.name == "report.html" and path.stat().st_size < 2_000_000
    assert external_urls(html) == []
    assert "<script src" not in html and '<link rel="stylesheet"' not in html and "@import" not in html
    # 1 curves + correlation + reconstructions + one traversal per latent
    assert len(images(html)) == 3 + 10


def test_page_shows_what_was_trained(page, trained_run):
    _, html = page
    meta = json.loads((trained_run / "config.json").read_text())
    for text in (
        meta["slowvae_version"],
        meta["torch_version"],
        meta["git_commit"] or "not recorded",
        "slowvae",
        "dsprites-procedural",
        "LAP (Laplace), data rate 1.0",
        "beta=1, gamma=10, rate=6",
        "8 of 8",
        "cpu × 1 process(es)",
        meta["config"]["precision"],
    ):
        assert text in html, text
    seconds = sum(json.loads(line)["seconds"] for line in (trained_run / "metrics.jsonl").read_text().splitlines())
    assert "training not recorded" not in html and seconds > 0


def test_curves_cover_every_loss_term(trained_run, page):
    _, html = page
    terms = loss_terms(read_log(trained_run))
    assert terms == ["loss", "recon", "kl_normal", "kl_laplace"]
    assert f'alt="training curves: {", ".join(terms)}"' in html


def test_scores_and_suite(page, trained_run):
    _, html = page
    results = json.loads((trained_run / "results.json").read_text())
    assert f"{results['mcc']:.3f}" in html and f"{results['mcc_untrained']:.3f}" in html
    table = html[html.index('id="factor-table"') : html.index("</table>", html.index('id="factor-table"'))]
    rows = re.findall(r"<td>(\w+)</td><td><span class=\"tag\">z(\d+)</span>", table)
    assert rows == [(name, str(k)) for name, k in results["latent_for_factor"].items()]
    suite = html[html.index('id="suite-table"') :]
    for key in ("mig", "modularity"):
        assert f"<code>{key}</code>" in suite and f"{results[key]:.4f}" in suite
    assert "num_bins=20" in suite  # the metric's settings are shown beside its value


def test_traversals_ordered_by_matched_factor_and_animated(page, trained_run):
    _, html = page
    results = json.loads((trained_run / "results.json").read_text())
    order = [f"traversal of z{k}" for k, _ in matched_order(results["latent_for_factor"], 10)]
    shown = [(alt, data) for alt, data in images(html) if alt.startswith("traversal of")]
    assert [alt for alt, _ in shown] == order
    assert order[:5] == [f"traversal of z{k}" for k in results["latent_for_factor"].values()]
    for alt, data in shown:
        gif = Image.open(io.BytesIO(data))
        assert gif.format == "GIF" and gif.n_frames > 1, alt


def test_matched_order_puts_unmatched_latents_last():
    assert matched_order({"a": 3, "b": 0}, 5) == [(3, "a"), (0, "b"), (1, None), (2, None), (4, None)]


def test_unevaluated_run_names_the_missing_step(tmp_path):
    run = tmp_path / "fresh"
    init_run_dir(run, TrainConfig(steps=5))
    html = write_run_report(run, out=tmp_path / "elsewhere.html").read_text()
    assert not (run / "report.html").exists()
    assert "has not been evaluated yet" in html and f"slowvae evaluate {run.resolve()}" in html
    assert "No training log" in html and external_urls(html) == []


def test_report_cli(trained_run, tmp_path, capsys):
    out = tmp_path / "page.html"
    assert main(["report", str(trained_run), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"report: {out}"
    assert out.stat().st_size > 100_000
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "neither a run directory" in err and "Traceback" not in err


def test_train_and_evaluate_write_the_page(tmp_path, capsys):
    run = tmp_path / "cli"
    assert main(["train", "--steps", "2", "--batch-pairs", "2", "--no-eval", "--out", str(run)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"report: {run / 'report.html'}"
    assert "has not been evaluated yet" in (run / "report.html").read_text()
    assert main(["evaluate", str(run), "--samples", "200"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"report: {run / 'report.html'}"
    assert "has not been evaluated yet" not in (run / "report.html").read_text()
    assert sorted(p.name for p in (run / "figures" / "traversals").iterdir()) == sorted(f"z{k}.gif" for k in range(10))
    (run / "report.html").unlink()
    assert main(["evaluate", str(run), "--samples", "200", "--no-figures", "--no-report"]) == 0
    assert "report:" not in capsys.readouterr().out and not (run / "report.html").exists()
    assert main(["evaluate", str(run), "--samples", "200", "--json", "--no-figures"]) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)  # standard output stays pure JSON; the page's path goes to stderr
    assert f"report: {run / 'report.html'}" in captured.err and (run / "report.html").is_file()
    assert (
        main(["train", "--steps", "1", "--batch-pairs", "2", "--no-eval", "--no-report", "--out", str(tmp_path / "b")])
        == 0
    )
    assert not (tmp_path / "b" / "report.html").exists()


def test_a_one_record_log_says_record_in_the_singular(tmp_path):
    run = tmp_path / "short"
    init_run_dir(run, TrainConfig(steps=5))
    (run / "metrics.jsonl").write_text(json.dumps({"step": 5, "loss": 2.5, "recon": 2.0, "seconds": 0.1}) + "\n")
    html = write_run_report(run).read_text()
    assert "(1 record)" in html and "1 records" not in html
