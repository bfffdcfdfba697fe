"""The task shape v2 (the task-architecture issue): typed options, fitted facts apart from
the settings, task parts that keep no state, and one inference path with the run's precision
and TTA for validation and the submission alike."""

import json
from dataclasses import dataclass
from typing import Literal

import pytest

from dlf.cli import main
from dlf.core.errors import DlfError
from dlf.tasks.aptos.synth import synth_aptos
from dlf.tasks.aptos.task import AptosTask
from dlf.tasks.base import TrainConfig
from dlf.tasks.options import parse_options
from dlf.tasks.runner import predict, train

TINY = ["--size", "32", "--bs", "8", "--arch", "lenet", "--seed", "0", "--epochs", "1"]


@dataclass
class Opts:
    head: Literal["regression", "classification"] = "regression"
    flag: bool = False
    n: int = 3
    rate: float = 0.5
    path: str | None = None
    channels: Literal[1, 3] | None = None


def test_options_are_converted_by_their_type():
    o = parse_options(Opts, {"flag": "yes", "n": "7", "rate": "1e-3", "path": "w.pth",
                             "channels": "1", "head": "classification"})  # fmt: skip
    assert o == Opts("classification", True, 7, 1e-3, "w.pth", 1)
    assert parse_options(Opts, {"path": "none", "channels": "auto"}) == Opts()
    assert parse_options(Opts, {"flag": True, "n": 7}) == Opts(flag=True, n=7)  # as saved


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (
            {"hed": "classification"},
            "hed: aptos has no such option; valid options: channels, flag, head, n, path, rate",
        ),
        ({"head": "classify"}, "head=classify: choose one of regression, classification"),
        ({"flag": "maybe"}, "flag=maybe: expected true or false"),
        ({"n": "2.5"}, "n=2.5: expected a whole number"),
        ({"rate": "fast"}, "rate=fast: expected a number"),
        ({"channels": "2"}, "channels=2: choose one of 1, 3"),
    ],
)
def test_a_wrong_option_is_one_line_naming_what_is_valid(raw, says):
    with pytest.raises(DlfError, match="--option " + says.replace("(", r"\(").replace(")", r"\)")):
        parse_options(Opts, raw, "aptos")


@pytest.fixture(scope="module")
def aptos(tmp_path_factory):
    data = tmp_path_factory.mktemp("aptos")
    synth_aptos(data / "d", n=40, n_test=12, seed=1)
    return data / "d"


def test_an_unknown_option_is_refused_before_anything_is_written(
    aptos, tmp_path, capsys, monkeypatch
):
    """Before: `--option hed=classification` was silently ignored and a regression trained."""
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    run = tmp_path / "run"
    rc = main(["train", "aptos", "--data", str(aptos), "--out", str(run), *TINY,
               "--option", "hed=classification"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert (
        "--option hed: aptos has no such option; valid options: ben_graham, head, pretrained"
        in err[0]
    )
    assert not (run / "config.json").exists()


def test_one_task_object_trains_then_predicts_in_fp32_with_the_fitted_tta(
    aptos, tmp_path, capsys, monkeypatch
):
    """A task object keeps no state between parts (one object trains and predicts); a run
    trained in fp32 is predicted in fp32 (before: "auto", i.e. bf16 on this CPU); the
    thresholds record the TTA they were fitted with, and predicting with another is refused
    (before: fitted without TTA, applied with it)."""
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    task, run = AptosTask(), tmp_path / "run"
    cfg = TrainConfig(task="aptos", data=str(aptos), out=str(run), epochs=1, arch="lenet",
                      size=32, bs=8, seed=0, precision="fp32", tta=2)  # fmt: skip
    result = train(task, cfg, quiet=True)
    assert result["postprocess"]["tta"] == 2 and len(result["postprocess"]["thresholds"]) == 4
    saved = json.loads((run / "config.json").read_text())
    assert saved["config"]["options"] == {
        "head": "regression",
        "ben_graham": False,
        "pretrained": None,
    }
    capsys.readouterr()
    predict(task, run, None, tmp_path / "sub.csv")
    out = capsys.readouterr().out
    assert "2 TTA pass(es), fp32" in out
    assert (tmp_path / "sub.csv").read_text().startswith("id_code,diagnosis\n")
    with pytest.raises(
        DlfError, match=r"fitted on validation predictions with --tta 2; predict with --tta 2"
    ):
        predict(task, run, None, tmp_path / "sub1.csv", tta=1)
    assert not (tmp_path / "sub1.csv").exists()
