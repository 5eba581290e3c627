"""HTML pages of runs and studies: self-contained files rendered from Jinja2 templates.

:func:`write_run_report` writes ``RUN_DIR/report.html`` from a run directory;
:func:`write_study_report` writes ``STUDY_DIR/report.html`` from a study directory, its table and
its runs (and the run pages it links to that are missing).
"""

from slowvae.report.run_page import PAGE_FILE, write_run_report
from slowvae.report.study_page import STUDY_FILE, StudyRun, write_study_report

__all__ = ["PAGE_FILE", "STUDY_FILE", "StudyRun", "write_run_report", "write_study_report"]
