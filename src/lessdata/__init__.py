"""lessdata: train on less data."""

__version__ = "0.1.0"
