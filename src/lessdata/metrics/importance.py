"""DSIR: importance weights toward a target sample (Xie et al. 2023, arXiv 2302.03169).

Data Selection with Importance Resampling fits two bag-of-hashed-n-grams (multinomial)
models, one on a small *target* sample (the data you wish you had more of) and one on the
*raw* corpus (the texts being scored), and gives each document its log importance weight

    log w(x) = sum_f count_f(x) * (log p_target(f) - log p_raw(f)).

The ``importance`` selection policy (``lessdata.select``) then resamples: it keeps ``k``
documents drawn without replacement with probability proportional to ``w(x)`` (Gumbel
top-k). That is DSIR's second step; ``keep-hard`` gives the deterministic top-k instead.

Features, as in the paper's code (``data_selection.HashedNgramDSIR``): the lowercased text
cut into word and punctuation tokens (``\\w+`` or a run of other non-space characters, the
NLTK ``wordpunct`` rule, which keeps the operators that tell code apart), unigrams up to
``ngram``-grams, hashed into ``buckets`` buckets by scikit-learn's ``HashingVectorizer``
(MurmurHash3, no sign flipping, so the same text always lands in the same buckets).

Smoothing: add-one (Laplace): ``p(f) = (count_f + 1) / (total + buckets)``, so that a bucket
never seen in one sample has a small, finite probability. (The paper's code adds 1e-8 to
the probabilities instead; add-one is gentler on a small target sample, where most buckets
are empty by chance.)

Length normalisation (``normalize``). The paper's log weight is a sum over a document's
n-grams, so it grows with length: a document 20 times longer than its neighbours gets a
weight 20 times more extreme, and resampling then mostly picks (or never picks) long
documents. The paper sidesteps this by scoring fixed-length chunks; corpora of whole
files or functions vary in length by orders of magnitude. So by default
(``normalize="length"``) each document's weight is its *mean* per-n-gram log ratio times
the median n-gram count of the corpus: a document of typical length keeps the paper's
weight (and so the same sharpness under resampling), and length no longer decides.
``normalize="none"`` gives the paper's sum.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from os import PathLike
from typing import Any

import numpy as np
import pyarrow as pa

from lessdata.checks import check_choice, check_int
from lessdata.errors import LessdataError
from lessdata.metrics.registry import Metric, ScoreInputs, register
from lessdata.progress import track

BUCKETS = 10_000
NGRAM = 2
#: add-one smoothing: the pseudo-count given to every bucket of both models
PSEUDOCOUNT = 1.0
NORMALIZE = ("length", "none")
#: word and punctuation tokens (NLTK's WordPunctTokenizer rule)
TOKEN_PATTERN = r"\w+|[^\w\s]+"
#: texts are hashed this many at a time (bounds the memory of the strings in flight)
BATCH = 4096

Texts = Sequence[str] | pa.Array | pa.ChunkedArray


def dsir_weights(
    texts: Texts,
    target_texts: Texts,
    *,
    buckets: int = BUCKETS,
    ngram: int = NGRAM,
    normalize: str = "length",
) -> np.ndarray:
    """Log importance weight of each text toward ``target_texts`` (higher = more target-like).

    Args:
        texts: the raw corpus to score: strings, or an Arrow string array.
        target_texts: a sample of the target distribution.
        buckets: hash buckets of the n-gram features.
        ngram: longest n-gram (2 = unigrams and bigrams, the paper's choice).
        normalize: ``"length"`` (mean log ratio per n-gram, times the corpus's median
            n-gram count) or ``"none"`` (the paper's sum over n-grams); see the module notes.

    Returns:
        float64 array, one log weight per text; 0 for a text without tokens.

    Example:
        >>> w = dsir_weights(["import re", "the cat sat"], ["re.compile(pattern)"])
        >>> bool(w[0] > w[1])
        True
    """
    buckets, ngram, normalize = check_dsir_options(buckets, ngram, normalize)
    vectorizer = _vectorizer(buckets, ngram)
    target_counts = np.asarray(_features(vectorizer, target_texts).sum(axis=0)).ravel()
    if target_counts.sum() == 0:
        raise LessdataError("the dsir target sample has no words; give it non-empty texts")
    x = _features(vectorizer, texts, progress=True)
    raw_counts = np.asarray(x.sum(axis=0)).ravel()
    log_ratio = _log_probs(target_counts) - _log_probs(raw_counts)
    weights = np.asarray(x @ log_ratio, dtype=np.float64).ravel()
    if normalize == "length":
        weights = _per_typical_length(weights, np.asarray(x.sum(axis=1)).ravel())
    return weights


def dsir(
    texts: Texts,
    *,
    target: Any = None,
    buckets: int = BUCKETS,
    ngram: int = NGRAM,
    normalize: str = "length",
) -> np.ndarray:
    """Each text's log importance weight toward a target sample (the ``dsir`` metric).

    Args:
        texts: the corpus to score: strings, or an Arrow string array.
        target: the target sample: a list of strings, or a path that
            ``lessdata.data.corpus.read_texts`` reads (JSONL, Parquet, text files, ...).
        buckets, ngram, normalize: as in :func:`dsir_weights`.

    Returns the (N,) log importance weights; select with the ``importance`` policy.
    """
    if target is None:
        raise LessdataError(
            "dsir needs a target sample: pass `target` (a corpus path or a list of texts)"
        )
    return dsir_weights(
        texts, _target_texts(target), buckets=buckets, ngram=ngram, normalize=normalize
    )


def _columns(
    inputs: ScoreInputs,
    *,
    target: Any = None,
    buckets: int = BUCKETS,
    ngram: int = NGRAM,
    normalize: str = "length",
) -> dict[str, np.ndarray]:
    if inputs.texts is None:
        raise LessdataError("dsir scores texts: give a dataset with a text column (`text_column`)")
    found = dsir(inputs.texts, target=target, buckets=buckets, ngram=ngram, normalize=normalize)
    return {"dsir": found}


def check_dsir_options(buckets: Any, ngram: Any, normalize: Any) -> tuple[int, int, str]:
    """Validate the DSIR options at the border, with messages that say how to fix them."""
    buckets = check_int(buckets, "buckets", low=2, hint="hash buckets of the n-gram features")
    ngram = check_int(ngram, "ngram", low=1)
    return buckets, ngram, check_choice(normalize, "normalize", NORMALIZE)


def _validate(
    *, target: Any = None, buckets: int = BUCKETS, ngram: int = NGRAM, normalize: str = "length"
) -> None:
    if target is None:
        raise LessdataError(
            "dsir needs a target sample: pass `target` (a corpus path or a list of texts)"
        )
    check_dsir_options(buckets, ngram, normalize)


def _target_texts(target: Any) -> Texts:
    """The target sample: strings as given, or read from a path."""
    if isinstance(target, (str, PathLike)):
        from lessdata.data.corpus import read_texts  # lazy: io is only needed for a path

        return read_texts(target)
    if isinstance(target, (pa.Array, pa.ChunkedArray)):
        return target
    if isinstance(target, Sequence) and all(isinstance(t, str) for t in target):
        return target
    raise LessdataError(
        f"dsir target must be a path or a list of strings, got {type(target).__name__}"
    )


def _vectorizer(buckets: int, ngram: int) -> Any:
    """Stateless hashed n-gram counts: the same text always gives the same vector."""
    from sklearn.feature_extraction.text import HashingVectorizer  # lazy: slow to import

    return HashingVectorizer(
        n_features=buckets,
        ngram_range=(1, ngram),
        token_pattern=TOKEN_PATTERN,
        lowercase=True,
        alternate_sign=False,
        norm=None,
        dtype=np.float64,
    )


def _features(vectorizer: Any, texts: Texts, progress: bool = False) -> Any:
    """Hashed n-gram counts of ``texts``, one sparse (CSR) row per text, a batch at a time."""
    import scipy.sparse as sp

    n = len(texts)
    batches: Iterator[list[str]] = _batches(texts)
    if progress and n > BATCH:
        batches = track(batches, -(-n // BATCH), "dsir: hashing n-grams")
    blocks = [vectorizer.transform(batch) for batch in batches]
    if not blocks:
        return sp.csr_matrix((0, vectorizer.n_features), dtype=np.float64)
    return sp.vstack(blocks, format="csr")


def _batches(texts: Texts) -> Iterator[list[str]]:
    """Lists of at most ``BATCH`` Python strings."""
    is_arrow = isinstance(texts, (pa.Array, pa.ChunkedArray))
    if is_arrow and texts.null_count:
        raise LessdataError("the texts hold nulls; fill or drop them first")
    for start in range(0, len(texts), BATCH):
        batch = (
            texts.slice(start, BATCH).to_pylist()
            if is_arrow
            else list(texts[start : start + BATCH])
        )
        if not all(isinstance(t, str) for t in batch):
            raise LessdataError("dsir texts must be strings")
        yield batch


def _log_probs(counts: np.ndarray) -> np.ndarray:
    """Log bucket probabilities of a multinomial fitted with add-one smoothing."""
    smoothed = counts + PSEUDOCOUNT
    return np.log(smoothed) - np.log(smoothed.sum())


def _per_typical_length(weights: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Mean log ratio per n-gram, scaled to the median n-gram count of the non-empty texts."""
    nonempty = lengths > 0
    if not nonempty.any():
        return np.zeros_like(weights)
    typical = float(np.median(lengths[nonempty]))
    out = np.zeros_like(weights)
    out[nonempty] = weights[nonempty] / lengths[nonempty] * typical
    return out


register(
    Metric(
        name="dsir",
        fn=_columns,
        summary="DSIR importance weight toward a target sample (Xie et al. 2023)",
        high_means=(
            "more like the target sample (log importance weight); "
            "select with the importance policy (or keep-hard)"
        ),
        needs_vectors=False,
        needs_text=True,
        validate=_validate,
    )
)
