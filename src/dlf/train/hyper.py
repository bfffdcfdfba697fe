"""Read and set optimizer hyperparameters by one name, whatever the optimizer calls them."""

from collections.abc import Sequence

import torch


def _key(group: dict, name: str) -> tuple[str, int | None]:
    """Where `name` lives in a param group: ("lr", None) or ("betas", 0), ..."""
    if name == "mom":
        return ("betas", 0) if "betas" in group else ("momentum", None)
    if name == "sqr_mom":
        return ("betas", 1)
    if name == "wd":
        return ("weight_decay", None)
    return (name, None)


def get_hyper(opt: torch.optim.Optimizer, name: str) -> list[float]:
    """One value per param group."""
    values = []
    for g in opt.param_groups:
        key, idx = _key(g, name)
        values.append(g[key] if idx is None else g[key][idx])
    return values


def set_hyper(opt: torch.optim.Optimizer, name: str, value: float | Sequence[float]) -> None:
    """Set `name` ("lr", "mom", "sqr_mom", "wd" or a raw key) to one value or one per group."""
    values = [value] * len(opt.param_groups) if isinstance(value, int | float) else list(value)
    if len(values) != len(opt.param_groups):
        raise ValueError(f"{name}: {len(values)} values for {len(opt.param_groups)} param groups")
    for g, v in zip(opt.param_groups, values):
        key, idx = _key(g, name)
        if key not in g:
            continue  # e.g. momentum for an optimizer that has none
        if idx is None:
            g[key] = v
        else:
            g[key] = tuple(v if i == idx else b for i, b in enumerate(g[key]))
