"""Paper reproductions: one module per paper, each a worked example a member can follow
(dlf reproduce PAPER). They sit at the tasks level: they use data, models, train and report."""

__all__: list[str] = []
