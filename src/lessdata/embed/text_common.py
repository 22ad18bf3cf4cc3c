"""What every text encoder shares: unit-norm rows, checked input, and Hugging Face libraries
kept offline and quiet. A module of its own so that the encoders import it, not each other."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pyarrow as pa

from lessdata.data.text_column import TextInput, as_text_array
from lessdata.errors import LessdataError
from lessdata.extras import require


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Return ``x`` as float32 with every row scaled to unit L2 norm.

    Rows that are (numerically) zero, e.g. a text with no known token under TF-IDF, cannot be
    scaled; they become the last basis vector, so that such rows are identical to each other
    and nearly orthogonal to everything else instead of NaN.
    """
    x = np.array(x, dtype=np.float32, copy=True)
    if x.ndim != 2 or x.shape[1] == 0:
        return x
    norms = np.linalg.norm(x, axis=1)
    zero = norms < 1e-12
    norms[zero] = 1.0
    x /= norms[:, None]
    if zero.any():
        x[zero] = 0.0
        x[zero, -1] = 1.0
    return x


def checked_texts(texts: TextInput) -> pa.ChunkedArray:
    arr = as_text_array(texts)
    if len(arr) == 0:
        raise LessdataError("no texts to embed: the input is empty; pass at least one text")
    return arr


def force_offline() -> None:
    """Make sure Hugging Face libraries never reach for the network."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # If huggingface_hub was imported before us (e.g. by `datasets`), its constant is frozen.
    hub_constants = sys.modules.get("huggingface_hub.constants")
    if hub_constants is not None and hasattr(hub_constants, "HF_HUB_OFFLINE"):
        hub_constants.HF_HUB_OFFLINE = True


@contextmanager
def model_bars_off(on: bool) -> Iterator[None]:
    """Silence transformers' own "Loading weights" bar and log lines while a quiet run loads."""
    if not on:
        yield
        return
    logging = require("transformers", "a sentence-transformers encoder").utils.logging
    was_enabled, verbosity = logging.is_progress_bar_enabled(), logging.get_verbosity()
    logging.disable_progress_bar()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if was_enabled:
            logging.enable_progress_bar()
