"""Where lessdata keeps derived files: embeddings, spilled vectors, shard checkpoints."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """The cache root: ``$LESSDATA_CACHE`` if set, else ``~/.cache/lessdata``."""
    env = os.environ.get("LESSDATA_CACHE", "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "lessdata"
