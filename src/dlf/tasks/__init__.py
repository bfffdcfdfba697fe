"""The study group's projects: one module per Kaggle challenge, all of the same shape."""

from dlf.tasks.base import Parts, Task, TrainConfig
from dlf.tasks.registry import get_task, list_tasks

__all__ = ["Parts", "Task", "TrainConfig", "get_task", "list_tasks"]
