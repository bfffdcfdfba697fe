"""`--recipe kaggle`: each task's named settings are valid for it, fill only what the command
line leaves unset. (A run records its recipe: tests/tasks/test_kaggle_kernel.py trains with
`--recipe kaggle` as a kernel would.)"""

import dataclasses

import pytest

from dlf.cli import main
from dlf.models import list_models
from dlf.tasks.base import TrainConfig
from dlf.tasks.options import parse_options
from dlf.tasks.recipes import apply_recipe
from dlf.tasks.registry import get_task, list_tasks

FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


@pytest.mark.parametrize("name", [t for t in list_tasks() if t != "folder"])
def test_every_competition_has_a_valid_kaggle_recipe(name):
    task = get_task(name)
    recipe = dict(task.recipes["kaggle"])
    options = recipe.pop("options", {})
    assert set(recipe) <= FIELDS - {"task", "data", "out", "options", "recipe"}
    assert recipe["arch"] in list_models()
    parse_options(task.Options, options, name)  # refuses unknown keys and bad values


def test_given_settings_win_over_the_recipe():
    task = get_task("aptos")
    cfg = TrainConfig(task="aptos", size=64, options={"ben_graham": False}, recipe="kaggle")
    apply_recipe(task, cfg)
    kaggle = task.recipes["kaggle"]
    assert cfg.size == 64 and cfg.options["ben_graham"] is False  # given
    assert cfg.arch == kaggle["arch"] and cfg.epochs == kaggle["epochs"]  # from the recipe
    assert cfg.options["head"] == kaggle["options"]["head"]


def test_an_unknown_recipe_is_one_line_naming_the_known_ones(capsys):
    assert main(["train", "aptos", "--recipe", "gold"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--recipe gold" in err and "kaggle" in err
