"""Headless Chromium for page tests: console messages, a screenshot, and a layout probe
(a small script run in the page after it loads, reading every element's bounding box)."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]  # fmt: skip


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


needs_chromium = pytest.mark.skipif(
    chromium() is None and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it)",
)


def _run(page: Path, profile: Path, *flags: str) -> subprocess.CompletedProcess:
    args = [chromium(), *FLAGS, f"--user-data-dir={profile}", *flags, page.as_uri()]
    return subprocess.run(args, capture_output=True, text=True, timeout=180)


def screenshot(
    page: Path, shot: Path, profile: Path, width: int = 1280, height: int = 3000
) -> list[str]:
    """Draw the page into `shot`; returns the console messages the page logged."""
    out = _run(page, profile, "--enable-logging=stderr", "--v=0", f"--screenshot={shot}",
               f"--window-size={width},{height}")  # fmt: skip
    return [line for line in out.stderr.splitlines() if ":CONSOLE" in line]


# Run in the page once everything (inline images included) is laid out. Reports:
# - an element reaching past the window's right edge, or the page scrolling sideways (cut off);
# - a table cell whose text is wider than the cell (clipped or spilling);
# - two elements that overlap by more than a pixel each way, neither inside the other.
PROBE = """
<script>
window.addEventListener('load', () => {
  const W = document.documentElement.clientWidth, problems = [];
  const name = e => e.tagName + (e.className ? '.' + e.className : '') + ' "' + (e.textContent || e.alt || '').trim().slice(0, 40) + '"';
  if (document.documentElement.scrollWidth > W) problems.push('page scrolls sideways to ' + document.documentElement.scrollWidth);
  const els = [...document.body.querySelectorAll('h1,h2,h3,p,img,th,td,figcaption,figure,.card,.item,b')];
  const boxes = els.map(e => [e, e.getBoundingClientRect()]).filter(([e, r]) => r.width > 0 && r.height > 0);
  for (const [e, r] of boxes) {
    if (r.right > W + 0.5 || r.left < -0.5) problems.push('cut off: ' + name(e));
    if ((e.tagName === 'TD' || e.tagName === 'TH') && e.scrollWidth > e.clientWidth + 1) problems.push('text wider than its cell: ' + name(e));
  }
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const [a, ra] = boxes[i], [b, rb] = boxes[j];
    if (a.contains(b) || b.contains(a)) continue;
    const dx = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
    const dy = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
    if (dx > 1 && dy > 1) problems.push('overlap: ' + name(a) + ' / ' + name(b));
  }
  document.body.setAttribute('data-probe', JSON.stringify({width: W, problems: problems}));
});
</script>
"""


def layout_problems(page: Path, profile: Path, width: int = 1280) -> tuple[int, list[str]]:
    """The page's layout problems at `width` pixels (see PROBE), through `--dump-dom`; a copy
    of the page with the probe appended is what is loaded. Returns (width seen, problems)."""
    probed = page.with_name(page.stem + "-probed.html")
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    out = _run(probed, profile, "--dump-dom", f"--window-size={width},900")
    found = re.search(r"data-probe=\"([^\"]*)\"", out.stdout)
    assert found, f"the probe did not report (chromium said: {out.stderr[-500:]})"
    report = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    return report["width"], report["problems"]
