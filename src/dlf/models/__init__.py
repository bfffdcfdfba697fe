"""dlf.models"""

__all__: list[str] = []
