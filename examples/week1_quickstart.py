"""Placeholder demo until the Learner lands: checks that dlf imports."""

import dlf

print(f"dlf {dlf.__version__} imports")
