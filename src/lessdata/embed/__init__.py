"""Text embeddings for pruning: encoders and an on-disk embedding cache.

``embed_texts(texts, "static")`` is the usual entry point: it hashes the texts, returns cached
vectors when the same texts were embedded by the same encoder before, and otherwise encodes
them and stores the result. ``ssl(array)`` trains a self-supervised encoder on the data
itself (:mod:`lessdata.embed.contrastive`). Importing this package does not import torch or
scikit-learn.
"""

from lessdata.data.text_column import texts_fingerprint
from lessdata.embed.cache import cache_key, cache_path, default_cache_dir, embed_texts
from lessdata.embed.encoders import (
    Encoder,
    SentenceTransformerEncoder,
    TfidfEncoder,
    get_encoder,
    l2_normalize,
)


def __getattr__(name: str) -> object:
    """``ssl`` is imported on first use: it needs PyTorch only when it is called."""
    if name == "ssl":
        from lessdata.embed.contrastive import ssl

        return ssl
    raise AttributeError(f"module 'lessdata.embed' has no attribute {name!r}")


__all__ = [
    "Encoder",
    "SentenceTransformerEncoder",
    "TfidfEncoder",
    "cache_key",
    "cache_path",
    "default_cache_dir",
    "embed_texts",
    "get_encoder",
    "l2_normalize",
    "ssl",
    "texts_fingerprint",
]
