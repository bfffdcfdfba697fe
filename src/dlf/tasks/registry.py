"""Task names for the command line; modules are imported only when their task is used."""

import importlib

from dlf.core.errors import DlfError
from dlf.tasks.base import Task

TASKS = {
    "folder": ("dlf.tasks.folder", "FolderTask"),
    "aptos": ("dlf.tasks.aptos.task", "AptosTask"),
    "siim": ("dlf.tasks.siim.task", "SiimTask"),
}


def list_tasks() -> list[str]:
    return list(TASKS)


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise DlfError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    module, cls = TASKS[name]
    return getattr(importlib.import_module(module), cls)()
