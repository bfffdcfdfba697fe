"""A report page that a notebook shows inline: `show_report("runs/aptos")` as a cell's last
line displays the run's report.html (and `dlf report`'s comparison pages) in the notebook."""

import html
from pathlib import Path

from dlf.core.errors import DlfError


class HtmlPage:
    """A written HTML page. In a notebook its `_repr_html_` shows the page in an iframe, so
    the page's own styles stay inside it; elsewhere it prints as its path."""

    def __init__(self, path: str | Path, height: int = 640) -> None:
        self.path, self.height = Path(path), height

    def _repr_html_(self) -> str:
        page = html.escape(self.path.read_text(), quote=True)
        return (
            f'<iframe srcdoc="{page}" title="{html.escape(str(self.path))}" '
            f'style="width: 100%; height: {self.height}px; border: 1px solid #ddd"></iframe>'
        )

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"HtmlPage({str(self.path)!r})"


def show_report(run_or_page: str | Path) -> HtmlPage:
    """A run folder's report.html, or any page dlf wrote (a comparison), for display."""
    path = Path(run_or_page)
    if path.is_dir():
        path = path / "report.html"
    if not path.is_file():
        raise DlfError(f"{path}: no report here; pass a run folder that `dlf train` finished")
    return HtmlPage(path)


__all__ = ["HtmlPage", "show_report"]
