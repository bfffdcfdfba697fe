"""Task options: each task declares a dataclass of its settings, with their defaults and
types; `--option key=value` is converted by the field's type, and an unknown key or a value
of the wrong type is refused in one line that lists what is valid.

    @dataclass
    class AptosOptions:
        head: Literal["regression", "classification"] = "regression"
        ben_graham: bool = False
        pretrained: str | None = None
"""

import dataclasses
import types
import typing
from typing import Any, Literal

from dlf.core.errors import DlfError

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def parse_options(cls: type, raw: dict[str, Any], task: str = "this task") -> Any:
    """An instance of the dataclass `cls` from `raw` (strings from the command line, or the
    typed values saved in config.json); fields not given keep their defaults."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in raw.items():
        if key not in fields:
            valid = ", ".join(sorted(fields)) or "none"
            raise DlfError(f"--option {key}: {task} has no such option; valid options: {valid}")
        values[key] = _convert(key, value, hints[key])
    return cls(**values)


def options_dict(opts: Any) -> dict[str, Any]:
    """The options as JSON-ready values, for config.json."""
    return dataclasses.asdict(opts)


def _convert(key: str, value: Any, kind: Any) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        empty = value is None or (isinstance(value, str) and value.lower() in ("none", "", "auto"))
        if empty and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(key, value, inner[0]) if len(inner) == 1 else value
    if origin is Literal:  # "1" from the command line is the choice 1
        for choice in args:
            if value == choice or str(value) == str(choice):
                return choice
        raise DlfError(f"--option {key}={value}: choose one of {', '.join(map(str, args))}")
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise DlfError(f"--option {key}={value}: expected true or false (or 1/0, yes/no)")
    if kind in (int, float):
        try:
            converted = kind(value)
        except (TypeError, ValueError):
            what = "a whole number" if kind is int else "a number"
            raise DlfError(f"--option {key}={value}: expected {what}") from None
        if kind is int and isinstance(value, float) and value != converted:
            raise DlfError(f"--option {key}={value}: expected a whole number")
        return converted
    if kind is str:
        return str(value)
    return value


__all__ = ["options_dict", "parse_options"]
