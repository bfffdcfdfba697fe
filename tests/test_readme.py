"""The README's week-1 example runs as written (on a tiny generated folder of images)."""

import re
from pathlib import Path

import numpy as np

from dlf.tasks.folder import FolderTask

README = Path(__file__).resolve().parents[1] / "README.md"


def test_week1_example_runs(tmp_path, monkeypatch, capsys):
    FolderTask().synth(tmp_path / "my_project", n=24, seed=0)
    img = next((tmp_path / "my_project" / "test").iterdir())
    (tmp_path / "my_project" / "new.jpg").write_bytes(img.read_bytes())
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    code = code.replace("size=128", "size=32").replace("fine_tune(5", "fine_tune(1")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)
    learn = scope["learn"]
    label, idx, probs = learn.predict("my_project/new.jpg")
    assert label == scope["dls"].vocab[idx] and np.isclose(float(probs.sum()), 1.0, atol=1e-4)
    assert len(learn.recorder.values) == 2  # fine_tune: one frozen epoch, then one more
