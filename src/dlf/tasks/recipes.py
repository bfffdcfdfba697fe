"""Named sets of training settings: `dlf train TASK --recipe kaggle`.

A task's default settings are the small CPU recipe for its embedded data. `Task.recipes` adds
named ones, e.g. "kaggle": the settings of a public winning-style solution for a GPU and the
real data (image size, backbone, epochs, TTA, task options), each with its source in
docs/tasks/<task>.md. A recipe fills what the command line leaves unset; anything given
wins, option by option. Pretrained weights are never downloaded: a kernel attaches them as
a dataset and passes `--option pretrained=/kaggle/input/<weights>/<file>`.
"""

from dlf.core.errors import DlfError
from dlf.tasks.base import Task, TrainConfig


def apply_recipe(task: Task, cfg: TrainConfig) -> None:
    """Fill the settings `cfg` leaves as None (and options it does not give) from its recipe."""
    if cfg.recipe is None:
        return
    recipes = task.recipes
    if cfg.recipe not in recipes:
        known = ", ".join(recipes) or "none"
        raise DlfError(
            f"--recipe {cfg.recipe}: task {task.name} has no such recipe (its recipes: {known})"
        )
    recipe = dict(recipes[cfg.recipe])
    options = recipe.pop("options", {})
    for key, value in recipe.items():
        if getattr(cfg, key) is None:
            setattr(cfg, key, value)
    cfg.options = {**options, **cfg.options}


__all__ = ["apply_recipe"]
