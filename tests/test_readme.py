"""The README's week-1 example runs as written, on an RGB and on a grayscale folder
(issue 12: a gray folder failed in Normalize, and the predicted file trained as a class)."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dlf.tasks.folder import FolderTask

README = Path(__file__).resolve().parents[1] / "README.md"


def week1_snippet() -> str:
    text = README.read_text()
    week1 = text[text.index("## Week 1") :]
    return re.search(r"```python\n(.*?)```", week1, re.S).group(1)


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_week1_example_runs(tmp_path, monkeypatch, mode):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    project = tmp_path / "photos"
    FolderTask().synth(project, n=24, seed=0)
    for f in project.rglob("*.png"):  # the same images, as a gray folder
        Image.open(f).convert(mode).save(f)
    img = Image.open(next((project / "test").iterdir()))
    img.convert("RGB").save(tmp_path / "new.jpg")  # a new photo, kept outside the project
    code = week1_snippet()
    assert '"my_project"' in code and "fine_tune(5" in code and "size=128" in code
    code = code.replace('"my_project"', repr(str(project)))
    code = code.replace("size=128", "size=32").replace("fine_tune(5", "fine_tune(1")
    code = code.replace("lr_find()", "lr_find(num_it=12)")  # a short sweep: 12 steps, not 100
    monkeypatch.chdir(tmp_path)
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions: more threads only spin on a shared machine
    try:
        scope: dict = {}
        exec(compile(code, str(README), "exec"), scope)
    finally:
        torch.set_num_threads(before)
    dls, learn = scope["dls"], scope["learn"]
    assert dls.vocab == ["circle", "square", "triangle"]  # "test" and loose files: no class
    assert dls.channels == (3 if mode == "RGB" else 1)
    assert next(learn.model.parameters()).shape[1] == dls.channels  # the stem's in_chans
    label, idx, probs = learn.predict("new.jpg")
    assert label == dls.vocab[idx] and np.isclose(float(probs.sum()), 1.0, atol=1e-4)
    assert len(learn.recorder.values) == 2  # fine_tune: one frozen epoch, then one more
