"""The notebooks in notebooks/ run top to bottom in a Jupyter kernel, and how dlf behaves in one.

Each notebook is executed with nbclient (the engine behind `jupyter nbconvert --execute`)
after its `parameters` cell is extended with smaller sizes; a cell that raises fails the test
with the notebook, the cell's number and its first line. A fast subset runs in the default
suite, every notebook in the slow one. Committed notebooks carry no outputs.
"""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ALL = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))

# sizes for the test runs, appended to each notebook's parameters cell
SMALL = {
    "week1": "N_IMAGES = 30\nSIZE = 32\nEPOCHS = 1\nLR_FIND_STEPS = 10",
    "week2": "N_ITEMS = 4",
    "week3": "SIZE = 32",
    "week4": "N_TRAIN = 256\nEPOCHS = 1\nLR_FIND_STEPS = 10",
    "week5": "N_IMAGES = 40\nSIZE = 32\nEPOCHS = 1",
    "aptos": "N_ITEMS = 40\nSIZE = 32\nEPOCHS = 1",
    "siim": "N_ITEMS = 12\nEPOCHS = 1",
    "oid": "N_ITEMS = 40\nEPOCHS = 1",
    "vrd": "N_ITEMS = 24\nEPOCHS = 1",
    "yt8m": "N_ITEMS = 24\nEPOCHS = 1",
    "recursion": "N_ITEMS = 48\nEPOCHS = 1",
}
FAST = ["week1"]  # the default suite's subset (the others take minutes together)


def execute(nb: nbformat.NotebookNode, cwd: Path, name: str, allow_errors: bool = False):
    """Run every cell in a fresh kernel; a raising cell fails the test, naming the cell."""
    client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(cwd)}})  # fmt: skip
    try:
        client.execute()
    except CellExecutionError as e:
        failed = next(
            (i, c) for i, c in enumerate(nb.cells)
            if any(o.get("output_type") == "error" for o in c.get("outputs", []))
        )  # fmt: skip
        i, cell = failed
        first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
        pytest.fail(f"{name}.ipynb cell {i} ({first!r}) raised:\n{e}", pytrace=False)
    return nb


def run_notebook(name: str, tmp_path: Path, monkeypatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))  # the kernel inherits it
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{name}.ipynb needs one cell tagged 'parameters'"
    params[0].source += "\n# smaller, for the test suite\n" + SMALL[name]
    return execute(nb, tmp_path, name)


def outputs(nb, kind: str) -> list:
    return [o for c in nb.cells for o in c.get("outputs", []) if kind in o.get("data", {})]


@pytest.mark.parametrize("name", ALL)
def test_committed_without_outputs_and_with_a_parameters_cell(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{name}.ipynb cell {i} has outputs: clear them before committing "
                "(Jupyter: Edit > Clear All Outputs; or jupyter nbconvert --clear-output --inplace)"
            )
    assert name in SMALL, f"{name}.ipynb: add its small sizes to SMALL in this test"


def test_every_project_and_week_has_a_notebook():
    from dlf.tasks.registry import list_tasks

    projects = [t for t in list_tasks() if t != "folder"]  # folder is week 1's own data
    assert set(ALL) == {f"week{i}" for i in range(1, 6)} | set(projects)


@pytest.mark.parametrize("name", FAST)
def test_fast_notebooks_run(name, tmp_path, monkeypatch):
    nb = run_notebook(name, tmp_path, monkeypatch)
    if name == "week1":  # show_batch and lr_find draw inline
        assert len(outputs(nb, "image/png")) >= 2, f"{name}: plots not shown inline"


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in ALL if n not in FAST])
def test_every_notebook_runs(name, tmp_path, monkeypatch):
    nb = run_notebook(name, tmp_path, monkeypatch)
    if name not in ("week2", "week3", "week4"):  # a run's report displays inline, in an iframe
        assert any("<iframe srcdoc=" in o["data"]["text/html"] for o in outputs(nb, "text/html"))


def test_dlf_in_a_notebook_kernel(tmp_path, monkeypatch):
    """In a kernel: a DlfError shows as its one line (the full traceback with DLF_DEBUG=1),
    training shows a progress bar redrawn in place (not a line per refresh), and lr_find's
    plot and a report show inline. Reference for the one line: the CLI's `dlf: error: MESSAGE`."""
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DLF_DEBUG", raising=False)
    cell = nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook(cells=[
        cell(f"import os, sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\nfrom dlf import DlfError"),
        cell("raise DlfError('train.csv line 3: 1 field, expected 2; fix the row')"),
        cell("os.environ['DLF_DEBUG'] = '1'\nraise DlfError('train.csv line 3: again')"),
        cell("del os.environ['DLF_DEBUG']\nimport dlf\nfrom tiny import TinyCNN, make_dls\n"
             "learn = dlf.Learner(TinyCNN(), make_dls(), dlf.train.cross_entropy)\n"
             "learn.fit(2, 1e-3)"),
        cell("learn.lr_find(num_it=20);"),
        cell("from dlf.report import show_report, write_run_report\n"
             "show_report(write_run_report('r.html', title='t', config={}, environment={}, "
             "rows=[], metric_names=[]))"),
    ])  # fmt: skip
    execute(nb, tmp_path, "in-memory", allow_errors=True)
    one_line, debug = (nb.cells[i].outputs[-1] for i in (1, 2))
    assert one_line.output_type == "error" and len(one_line.traceback) == 1
    assert one_line.traceback[0].endswith(
        "dlf: error:\x1b[0m train.csv line 3: 1 field, expected 2; fix the row"
    )
    assert debug.output_type == "error" and len(debug.traceback) > 1  # IPython's own traceback
    stderr = "".join(o.text for o in nb.cells[3].outputs if o.get("name") == "stderr")
    assert "epoch 1/2 train" in stderr and "\r" in stderr  # a bar, redrawn in place
    assert stderr.count("\n") <= 8  # each bar ends once, not a line per refresh
    assert any("image/png" in o.get("data", {}) for o in nb.cells[4].outputs)  # lr_find's plot
    page = nb.cells[5].outputs[-1]["data"]["text/html"]
    assert page.startswith("<iframe srcdoc=") and "&lt;h1&gt;t&lt;/h1&gt;" in page
