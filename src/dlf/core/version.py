"""The package version, kept at the ground floor so any layer can report it."""

__version__ = "0.1.0"
