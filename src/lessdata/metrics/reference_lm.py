"""Perplexity: how surprising each document is to a tiny byte-level LM trained on a reference.

Train a small GPT (:mod:`lessdata.train.tiny_lm`) on a reference sample, then score every
document by its mean loss in nats per byte under that model. This is the perplexity filter
of CCNet (Wenzek et al. 2019, arXiv 1911.00359), with a byte-level transformer trained on
the spot in place of a pre-trained n-gram model:

- **with a reference** of high-quality text (``reference=``, a list of strings or a corpus
  path), a low score means "reads like the reference": keep-easy keeps the most
  reference-like documents (the usual perplexity filter), moderate keeps the middle and
  drops both boilerplate-like and garbage-like extremes;
- **without one**, a seeded random ``reference_fraction`` of the scored documents is the
  reference, so the score measures typicality within the corpus itself: outliers (binary
  blobs, minified or generated files, other languages) score high.

The LM's compute is fixed (``lm_tokens`` training tokens, whatever the reference's size), so
the metric costs about the same on any corpus, plus one forward pass over the scored bytes.
torch is imported on the first call, not when the metric registers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lessdata.checks import check_float, check_int
from lessdata.errors import LessdataError
from lessdata.extras import require
from lessdata.metrics.registry import Metric, ScoreInputs, register
from lessdata.progress import log

#: the reference LM's context (bytes) and windows per step
LM_CONTEXT = 128
LM_BATCH = 16
#: width of one attention head of the reference LM
HEAD_WIDTH = 16


def check_options(reference_fraction: Any, lm_tokens: Any, lm_layers: Any, lm_width: Any) -> None:
    """Validate the metric's options, with messages that say how to fix them."""
    check_float(
        reference_fraction, "reference_fraction", low=0, high=1, closed="right",
        hint="the share of the scored documents that trains the reference LM when no "
        "reference is given",
    )  # fmt: skip
    check_int(lm_tokens, "lm_tokens", low=1)
    check_int(lm_layers, "lm_layers", low=1)
    width = check_int(lm_width, "lm_width", low=HEAD_WIDTH)
    if width % HEAD_WIDTH:
        raise LessdataError(
            f"lm_width must be a positive multiple of {HEAD_WIDTH} (the width of one "
            f"attention head), e.g. 64; got {lm_width!r}",
            param="lm_width",
        )


def _validate(
    *, reference: Any = None, reference_fraction: float = 0.1, lm_tokens: int = 300_000,
    lm_layers: int = 2, lm_width: int = 64,
) -> None:  # fmt: skip
    check_options(reference_fraction, lm_tokens, lm_layers, lm_width)


def reference_texts(
    texts: Any, reference: Any, reference_fraction: float, seed: int
) -> tuple[Any, str]:
    """The reference documents and a few words saying where they came from.

    ``reference`` (a list of strings or a corpus path) wins; otherwise a seeded random
    ``reference_fraction`` of ``texts`` (at least one document), in corpus order.
    """
    if reference is not None:
        if not isinstance(reference, (list, tuple, str, Path)):
            raise LessdataError(
                f"reference must be a list of strings or a corpus path, "
                f"got {type(reference).__name__}"
            )
        from lessdata.data.corpus import read_texts  # lazily: io is a sibling helper's module

        docs = read_texts(reference)
        return docs, f"{len(docs)} reference documents"
    n = len(texts)
    m = max(1, round(reference_fraction * n))
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=m, replace=False))
    sample = [texts[i] for i in rows] if isinstance(texts, list) else texts.take(rows)
    return sample, f"a random {m} of the {n} scored documents (seed {seed})"


def _has_text(docs: Any) -> bool:
    """True when at least one document is non-empty (list of strings or Arrow strings)."""
    if isinstance(docs, list):
        return any(docs)
    import pyarrow.compute as pc

    return bool(pc.max(pc.binary_length(docs)).as_py() or 0)


def perplexity(
    texts: Any,
    *,
    reference: Any = None,
    reference_fraction: float = 0.1,
    lm_tokens: int = 300_000,
    lm_layers: int = 2,
    lm_width: int = 64,
    seed: int = 0,
) -> np.ndarray:
    """Mean loss (nats per byte) of each document under a tiny LM trained on a reference.

    Args:
        texts: the documents to score: an Arrow string array or a list of strings.
        reference: the reference documents: a list of strings or a corpus path (read with
            ``lessdata.data.corpus.read_texts``). Default: a random sample of the scored texts.
        reference_fraction: the share of the scored documents sampled as the reference when
            ``reference`` is not given (ignored otherwise).
        lm_tokens: the LM's training budget in tokens (fixed, whatever the reference's size).
        lm_layers: the LM's transformer blocks.
        lm_width: the LM's embedding width (a multiple of 16; one head per 16).
        seed: seeds the reference sample, the LM's initialisation and its training windows.

    Returns the (N,) float64 nats per byte (each document's UTF-8 bytes plus its
    end-of-document token): higher = less like the reference.
    """
    check_options(reference_fraction, lm_tokens, lm_layers, lm_width)
    docs, origin = reference_texts(texts, reference, reference_fraction, seed)
    if not _has_text(docs):
        raise LessdataError(
            f"the reference ({origin}) holds no text: give a non-empty reference= "
            "or raise reference_fraction"
        )

    require("torch", "the perplexity metric")
    from lessdata.train.tiny_lm import TinyLMConfig, document_losses, train_tiny_lm

    config = TinyLMConfig(
        n_layer=lm_layers,
        n_head=lm_width // HEAD_WIDTH,
        d_model=lm_width,
        context=LM_CONTEXT,
        batch_size=LM_BATCH,
        tokens=lm_tokens,
        seed=seed,
    )
    log(
        f"perplexity: training a byte-level LM ({lm_layers} layers, width {lm_width}) for "
        f"{lm_tokens:,} tokens on {origin}"
    )
    trained = train_tiny_lm(docs, config)
    return document_losses(trained.model, texts)


def _columns(
    inputs: ScoreInputs,
    *,
    reference: Any = None,
    reference_fraction: float = 0.1,
    lm_tokens: int = 300_000,
    lm_layers: int = 2,
    lm_width: int = 64,
) -> dict[str, np.ndarray]:
    if inputs.texts is None:
        raise LessdataError(
            "metric 'perplexity' needs text: give a Parquet/JSONL/CSV file with a text column "
            "(or name it with `text_column`)"
        )
    found = perplexity(
        inputs.texts, reference=reference, reference_fraction=reference_fraction,
        lm_tokens=lm_tokens, lm_layers=lm_layers, lm_width=lm_width, seed=inputs.seed,
    )  # fmt: skip
    return {"perplexity": found}


register(
    Metric(
        name="perplexity",
        fn=_columns,
        summary="loss per byte under a tiny byte-level LM trained on a reference sample",
        high_means="less like the reference sample (surprising to the reference model)",
        needs_vectors=False,
        needs_text=True,
        validate=_validate,
    )
)
