"""Reports for the meetup: one self-contained HTML page per run, runs side by side, and the
meetup board (dlf meetup) from run folders or the zips `dlf pack` writes."""

from dlf.report.board import render_board, write_board
from dlf.report.html import compare_runs, render_run_report, write_run_report
from dlf.report.items import ValidItems, load_items, save_items
from dlf.report.page import HtmlPage, show_report
from dlf.report.runs import RunRecord, open_runs, pack_run, read_run

__all__ = [
    "HtmlPage",
    "RunRecord",
    "ValidItems",
    "compare_runs",
    "load_items",
    "open_runs",
    "pack_run",
    "read_run",
    "render_board",
    "render_run_report",
    "save_items",
    "show_report",
    "write_board",
    "write_run_report",
]
