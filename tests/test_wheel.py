"""The built wheel: it passes `twine check`, carries the report templates, installs into a fresh
virtual environment without downloading anything, and trains and evaluates a run from there.

The wheel is built from a copy of the source tree (so the checkout gets no build/ or egg-info), with
`python -m build --wheel --no-isolation`. The fresh environment is made with `--system-site-packages`
and sees the test interpreter's packages (torch, numpy, ...) through a .pth file, because a venv made
from inside a venv only sees the base interpreter's; the wheel goes in with `pip install --no-deps`.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("build", reason="building the wheel needs `build`: pip install -e '.[dev]'")
pytest.importorskip("twine", reason="checking the wheel needs `twine`: pip install -e '.[dev]'")

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = {"base.html.j2", "run.html.j2", "study.html.j2", "style.css", "page.js"}


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command with no PYTHONPATH (the installed wheel must be what gets imported)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, **kwargs)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """slowvae's wheel, built from a copy of src/, pyproject.toml, README.md and LICENSE."""
    tree = tmp_path_factory.mktemp("tree")
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, tree / name)
    dist = tree / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(tree)])
    (built,) = dist.glob("slowvae-*.whl")
    return built


def test_wheel_passes_twine_check_and_carries_the_templates(wheel: Path) -> None:
    out = _run([sys.executable, "-m", "twine", "check", "--strict", str(wheel)]).stdout
    assert "PASSED" in out
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"slowvae/report/templates/{t}" for t in TEMPLATES} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "slowvae/cli/__main__.py" in names and not any("tests/" in n for n in names)


def test_wheel_installs_offline_and_trains(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # a venv made inside a venv sees only the base interpreter: point it at this one's packages too
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    (Path(purelib) / "_parent_env.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    # this interpreter's pip installs into the fresh venv (no ensurepip: faster, and the same pip)
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)])

    where = _run([str(python), "-c", "import slowvae, slowvae.report; print(slowvae.__file__)"], cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(env_dir), "slowvae was not imported from the wheel"

    slowvae = env_dir / "bin" / "slowvae"
    run = tmp_path / "run"
    _run([str(slowvae), "train", "--steps", "20", "--no-eval", "--out", str(run)], cwd=tmp_path)
    assert (run / "checkpoints" / "last.pt").is_file()
    assert json.loads((run / "config.json").read_text())["config"]["steps"] == 20
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows and rows[-1]["step"] == 20

    # evaluation renders the run page from the templates inside the wheel
    _run([str(slowvae), "evaluate", str(run), "--samples", "500"], cwd=tmp_path)
    results = json.loads((run / "results.json").read_text())
    assert 0.0 < results["mcc"] <= 1.0
    page = (run / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") or page.lstrip().lower().startswith("<!doctype html>")
