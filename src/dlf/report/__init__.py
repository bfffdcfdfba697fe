"""Reports for the meetup: one self-contained HTML page per run, and runs side by side."""

from dlf.report.html import compare_runs, render_run_report, write_run_report
from dlf.report.page import HtmlPage, show_report

__all__ = ["HtmlPage", "compare_runs", "render_run_report", "show_report", "write_run_report"]
