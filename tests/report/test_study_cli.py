"""`slowvae report STUDY_DIR` on a real study run by `slowvae study run`: table, states, links."""

from __future__ import annotations

import json
import re

import pytest

from slowvae.cli import main

STUDY = """
name = "report check"
steps = 2
seeds = [1, 2]
datasets = ["dsprites-procedural"]
batch_pairs = 2
precision = "fp32"

[evaluate]
samples = 200
metrics = ["mcc", "mig"]

[[models]]
name = "slowvae"
grid = { gamma = [1, 10] }
"""


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    pytest.importorskip("slowvae.study", reason="needs slowvae.study (issue 12)")
    root = tmp_path_factory.mktemp("study-cli")
    (root / "study.toml").write_text(STUDY)
    out = root / "out"
    assert main(["study", "run", str(root / "study.toml"), "--out", str(out), "--workers", "1"]) == 0
    return out


def test_report_of_a_study_with_a_failed_and_a_missing_run(study_dir, capsys):
    from slowvae.study import runner

    runs = sorted(p for p in (study_dir / "runs").iterdir() if p.is_dir())
    assert len(runs) == 4
    failed, missing = runs[0], runs[1]
    (failed / "results.json").unlink()
    runner.write_error(failed, "the loss became nan at step 2 (made for the test)")
    for path in missing.iterdir():  # a run that never started: its directory is empty
        path.unlink() if path.is_file() else None
    capsys.readouterr()
    assert main(["report", str(study_dir)]) == 0
    assert capsys.readouterr().out.strip() == f"report: {study_dir / 'report.html'}"
    html = (study_dir / "report.html").read_text()
    assert "<h1>report check</h1>" in html and html.count("<tr title=") == 4
    table = html[html.index('id="study-table"') : html.index("</table>", html.index('id="study-table"'))]
    assert table.count("<tr") == 1 + 2 and "gamma=1" in table and "gamma=10" in table
    assert '<th class="num">mcc</th>' in table and '<th class="num">mig</th>' in table
    problems = html[html.index('id="problems"') :]
    assert "the loss became nan at step 2 (made for the test)" in problems and missing.name in problems
    for run in runs[2:]:
        results = json.loads((run / "results.json").read_text())
        assert (run / "report.html").is_file() and f'href="runs/{run.name}/report.html"' in html
        assert f'data-value="{results["mcc"]}"' in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
