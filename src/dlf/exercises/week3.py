"""week3 checks (to be written)."""

EXERCISES = []

__all__ = ["EXERCISES"]
