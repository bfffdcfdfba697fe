"""Task names for the command line; modules are imported only when their task is used.

dlf's own tasks are listed here, in one place. A study-group member's own task needs no edit
of dlf at all: `dlf train my_task:MyTask` imports the module `my_task` (from the current
folder or anywhere on the Python path) and uses its `Task` subclass `MyTask`; see
docs/tasks/your-own-project.md.
"""

import importlib
import sys
from pathlib import Path

from dlf.core.errors import DlfError
from dlf.tasks.base import Task

TASKS = {
    "folder": "dlf.tasks.folder:FolderTask",
    "aptos": "dlf.tasks.aptos.task:AptosTask",
    "siim": "dlf.tasks.siim.task:SiimTask",
    "oid": "dlf.tasks.oid.task:OidTask",
    "yt8m": "dlf.tasks.yt8m.task:Yt8mTask",
    "vrd": "dlf.tasks.vrd.task:VrdTask",
    "recursion": "dlf.tasks.recursion.task:RecursionTask",
}


def list_tasks() -> list[str]:
    return list(TASKS)


def get_task(name: str) -> Task:
    """A task by its registered name, or by `module:Class` for a task of your own."""
    if name in TASKS:
        return _load(TASKS[name], name)
    if ":" in name:
        return _load(name, name)
    raise DlfError(
        f"unknown task {name!r}; choose one of: {', '.join(TASKS)}, or give your own as MODULE:CLASS"
    )


def _load(spec: str, name: str) -> Task:
    module_name, _, cls_name = spec.partition(":")
    if str(Path.cwd()) not in sys.path:  # `dlf train my_task:MyTask` from the project folder
        sys.path.append(str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        raise DlfError(
            f"task {name!r}: no module {e.name!r}; run from the folder that holds "
            f"{module_name.replace('.', '/')}.py, or put it on PYTHONPATH"
        ) from None
    cls = getattr(module, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise DlfError(f"task {name!r}: {module_name} has no Task subclass named {cls_name!r}")
    return cls()
