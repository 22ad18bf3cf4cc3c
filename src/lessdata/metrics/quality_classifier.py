"""A learned quality filter: how much each document looks like a target sample (DCLM's recipe).

DataComp-LM (Li et al. 2024, arXiv 2406.11794) kept the documents that a fastText
classifier on word uni- and bigrams scored as most like a small, high-quality *target*
sample (OpenHermes and ELI5 answers) against a random sample of the corpus; FineWeb-Edu
(Penedo et al. 2024) did the same with a linear head on embeddings and LLM-annotated
targets. The ``classifier`` metric is that recipe on a CPU:

- **positives**: the target sample (``target``: the data you want more of);
- **negatives**: ``negatives`` when given, else a seeded random sample of the corpus being
  scored, as large as the target (at least ``MIN_NEGATIVES`` when the corpus has them);
- **features**: ``ngrams`` (the default, fastText's input: lowercased word and punctuation
  unigrams and bigrams, hashed into ``buckets`` buckets by scikit-learn's
  ``HashingVectorizer``, log-scaled counts, L2-normalised rows) or ``static`` (the
  ``static`` text encoder's 256-d embeddings, FineWeb-Edu's linear head on embeddings);
- **model**: L2-regularised logistic regression (a linear model, like fastText's, fitted
  exactly rather than by SGD), trained on positives vs negatives.

The score is the model's log-odds that a document belongs to the target:
**higher = more like the target**. ``keep-hard`` keeps the highest scores (DCLM's
selection: the top fraction); ``keep-easy`` keeps the least target-like documents.
The fit is checked by ``folds``-fold stratified cross-validation before it is used; the
accuracy is reported (manifest settings ``metric_notes.classifier``) so that a classifier
that cannot tell the target from the corpus (accuracy near 0.5) is visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any

import numpy as np
import pyarrow as pa

from lessdata.checks import check_choice, check_float, check_int
from lessdata.errors import LessdataError
from lessdata.metrics.registry import Metric, ScoreInputs, register

FEATURES = ("ngrams", "static")
BUCKETS = 1 << 18
NGRAM = 2
FOLDS = 5
#: inverse L2 strength of the logistic regression (scikit-learn's ``C``)
C = 1.0
#: negatives sampled from the corpus at least (when it has that many)
MIN_NEGATIVES = 200
TOKEN_PATTERN = r"\w+|[^\w\s]+"

Texts = Sequence[str] | pa.Array | pa.ChunkedArray


def classifier_scores(
    texts: Texts,
    target: Any,
    *,
    negatives: Any = None,
    features: str = "ngrams",
    buckets: int = BUCKETS,
    ngram: int = NGRAM,
    folds: int = FOLDS,
    c: float = C,
    seed: int = 0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Log-odds that each of ``texts`` is like ``target`` rather than the corpus, and notes.

    Args:
        texts: the corpus to score (strings or an Arrow string array).
        target: the target sample: a list of strings or a path ``read_texts`` reads.
        negatives: the other class: a list or path; default a random sample of ``texts``.
        features: ``ngrams`` (hashed word uni/bigrams) or ``static`` (static embeddings).
        buckets, ngram: the hashed n-gram features.
        folds: cross-validation folds for the reported accuracy (2 or more).
        c: inverse regularisation strength.
        seed: seeds the negative sample, the folds and the solver.

    Returns:
        ``(scores, notes)``: (N,) float64 log-odds (higher = more target-like) and a dict
        with the training counts and the cross-validated accuracy (mean and per fold).

    Example:
        >>> corpus = ["import os\\nos.path.join(a, b)", "buy cheap pills now"] * 20
        >>> s, notes = classifier_scores(corpus, ["import re\\nre.compile(p)"] * 20)
        >>> bool(s[0] > s[1]), notes["cv_accuracy"] > 0.5
        (True, True)
    """
    features, buckets, ngram, folds, c = check_classifier_options(
        features, buckets, ngram, folds, c
    )
    corpus = _strings(texts, "texts")
    if not corpus:
        raise LessdataError("no texts to score", param="texts")
    positives = _strings(_read(target), "target")
    if not positives or not any(t.strip() for t in positives):
        raise LessdataError(
            "the classifier's target sample is empty: give it the documents you want more of",
            param="target",
        )
    rng = np.random.default_rng(seed)
    if negatives is None:
        size = min(len(corpus), max(len(positives), MIN_NEGATIVES))
        chosen = np.sort(rng.choice(len(corpus), size=size, replace=False))
        others = [corpus[i] for i in chosen]
        negative_source = f"{size} documents sampled from the corpus"
    else:
        others = _strings(_read(negatives), "negatives")
        if not others:
            raise LessdataError("the classifier's negative sample is empty", param="negatives")
        negative_source = f"{len(others)} given negatives"
    x_train = _features(positives + others, features, buckets, ngram)
    y = np.r_[np.ones(len(positives)), np.zeros(len(others))].astype(int)
    accuracy = _cross_validated(x_train, y, folds, c, seed)
    model = _model(c, seed).fit(x_train, y)
    scores = model.decision_function(_features(corpus, features, buckets, ngram))
    notes = dict(
        features=features, positives=len(positives), negatives=negative_source,
        cv_folds=len(accuracy), cv_accuracy=float(np.mean(accuracy)),
        cv_accuracy_per_fold=[round(float(a), 4) for a in accuracy],
    )  # fmt: skip
    return np.asarray(scores, dtype=np.float64), notes


def check_classifier_options(
    features: Any, buckets: Any, ngram: Any, folds: Any, c: Any
) -> tuple[str, int, int, int, float]:
    """Validate the options at the border, naming the one to fix."""
    check_choice(features, "features", FEATURES)
    buckets = check_int(buckets, "buckets", low=2, hint="hash buckets of the n-gram features")
    ngram = check_int(ngram, "ngram", low=1, high=5)
    folds = check_int(folds, "folds", low=2, high=20, hint="cross-validation folds")
    c = check_float(c, "c", low=0, closed="neither", hint="inverse regularisation strength")
    return features, buckets, ngram, folds, c


def _model(c: float, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=1000, random_state=seed)


def _cross_validated(x: Any, y: np.ndarray, folds: int, c: float, seed: int) -> np.ndarray:
    """Accuracy of each fold; fewer folds when a class is smaller than ``folds``."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    smallest = int(min(np.bincount(y, minlength=2)))
    if smallest < 2:
        raise LessdataError(
            "the classifier needs at least 2 target and 2 negative documents to check its "
            "fit by cross-validation",
            param="target",
        )
    splitter = StratifiedKFold(n_splits=min(folds, smallest), shuffle=True, random_state=seed)
    return cross_val_score(_model(c, seed), x, y, cv=splitter, scoring="accuracy")


def _features(texts: list[str], kind: str, buckets: int, ngram: int) -> Any:
    if kind == "static":
        from lessdata.embed import embed_texts

        return np.asarray(embed_texts(texts, "static"))
    from sklearn.feature_extraction.text import HashingVectorizer

    vectorizer = HashingVectorizer(
        n_features=buckets, ngram_range=(1, ngram), token_pattern=TOKEN_PATTERN,
        lowercase=True, alternate_sign=False, norm=None, dtype=np.float64,
    )  # fmt: skip
    x = vectorizer.transform(texts)
    x.data = np.log1p(x.data)
    from sklearn.preprocessing import normalize

    return normalize(x)


def _read(source: Any) -> Any:
    """A path read as texts (``read_texts``: any corpus lessdata reads); anything else as is."""
    if isinstance(source, str | PathLike):
        from lessdata.data.corpus import read_texts

        return read_texts(source)
    return source


def _strings(texts: Any, name: str) -> list[str]:
    if isinstance(texts, pa.ChunkedArray | pa.Array):
        if texts.null_count:
            raise LessdataError(f"the {name} hold nulls; fill or drop them first", param=name)
        return texts.to_pylist()
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise LessdataError(f"{name} must be a path or a list of strings", param=name)
    if not all(isinstance(t, str) for t in texts):
        raise LessdataError(f"{name} must hold strings", param=name)
    return list(texts)


def _columns(
    inputs: ScoreInputs,
    *,
    target: Any = None,
    negatives: Any = None,
    features: str = "ngrams",
    buckets: int = BUCKETS,
    ngram: int = NGRAM,
    folds: int = FOLDS,
    c: float = C,
) -> dict[str, np.ndarray]:
    if inputs.texts is None:
        raise LessdataError(
            "the classifier scores texts: give a dataset with a text column (`text_column`)"
        )
    if target is None:
        raise LessdataError("the classifier needs a target sample: pass `target`")
    scores, notes = classifier_scores(
        inputs.texts, target, negatives=negatives, features=features, buckets=buckets,
        ngram=ngram, folds=folds, c=c, seed=inputs.seed,
    )  # fmt: skip
    inputs.notes["classifier"] = notes
    return {"classifier": scores}


def _validate(
    *, target: Any = None, negatives: Any = None, features: str = "ngrams",
    buckets: int = BUCKETS, ngram: int = NGRAM, folds: int = FOLDS, c: float = C,
) -> None:  # fmt: skip
    if target is None:
        raise LessdataError(
            "the classifier needs a target sample: pass `target` (a corpus path or a list of "
            "texts: the documents you want more of)"
        )
    check_classifier_options(features, buckets, ngram, folds, c)


register(
    Metric(
        name="classifier",
        fn=_columns,
        summary="learned quality filter: a linear classifier of target vs corpus (DCLM)",
        high_means=("more like the target sample (log-odds); keep-hard keeps the most target-like"),
        needs_vectors=False,
        needs_text=True,
        validate=_validate,
    )
)
