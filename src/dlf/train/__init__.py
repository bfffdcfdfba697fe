"""dlf.train"""

__all__: list[str] = []
