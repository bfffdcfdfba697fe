"""week2 checks (to be written)."""

EXERCISES = []

__all__ = ["EXERCISES"]
