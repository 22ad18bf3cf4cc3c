"""The package version, in a module of its own so that any module can read it without
importing the public API (``lessdata/__init__``) and the pipeline behind it."""

__version__ = "0.1.0"
