"""Training callbacks."""

__all__: list[str] = []
