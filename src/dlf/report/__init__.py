"""Reports for the meetup: one self-contained HTML page per run, and runs side by side."""

from dlf.report.html import compare_runs, render_run_report, write_run_report

__all__ = ["compare_runs", "render_run_report", "write_run_report"]
