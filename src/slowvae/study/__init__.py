"""Studies: many runs from one TOML file, run locally or on SLURM, summarised in one table.

A study file expands (deterministically) into runs (:mod:`slowvae.study.spec`); each run is an
ordinary run directory ``DIR/runs/<id>/`` brought to finished by :func:`runner.execute_run`
(train, then evaluate with the study's settings) under the local executor
(:mod:`slowvae.study.local`) or SLURM (:mod:`slowvae.study.slurm`). :func:`study_table` gives
the table as a dict; :func:`compute_study_udr` and :func:`select_next` implement the
reference protocol's selection by UDR.
"""

from slowvae.study.core import estimate_seconds, open_study, prepare, study_status, to_run
from slowvae.study.select import select_next
from slowvae.study.spec import RunSpec, Study, load_study, parse_study
from slowvae.study.table import render, save_figures, study_table
from slowvae.study.udr import compute_study_udr, select_by_udr

__all__ = [
    "RunSpec",
    "Study",
    "compute_study_udr",
    "estimate_seconds",
    "load_study",
    "open_study",
    "parse_study",
    "prepare",
    "render",
    "save_figures",
    "select_by_udr",
    "select_next",
    "study_status",
    "study_table",
    "to_run",
]
