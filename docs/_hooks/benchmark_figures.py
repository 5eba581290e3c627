"""mkdocs hook: publish the recorded benchmark figures with the site.

Every ``benchmarks/results/<study>/<name>.png`` is served as ``figures/<study>/<name>.png``, so a
benchmark page shows the figure that its command wrote (``![...](../figures/long-budget/x.png)``
from ``docs/benchmarks/``) without a second copy in ``docs/``.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add each results PNG to the site's files under ``figures/``."""
    for png in sorted(RESULTS.glob("*/*.png")):
        files.append(File.generated(config, f"figures/{png.parent.name}/{png.name}", abs_src_path=str(png)))
    return files
