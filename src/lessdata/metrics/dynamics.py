"""Training-dynamics metrics: how a small proxy model learns each example.

A proxy model (``proxy_model``, default an MLP) is trained on the feature vectors and labels
of the *whole* dataset for ``proxy_epochs`` epochs, ``proxy_runs`` times from different
initialisations (:func:`lessdata.train.train_with_dynamics`); after every epoch the whole
set is evaluated, and the metrics below summarise those per-example trajectories, averaged
over the runs. Every score follows the house direction, **higher = harder / more
informative**:

``el2n``
    ``||softmax(f(x)) - onehot(y)||_2`` early in training, after epoch ``early_epoch``
    (default 20% of ``proxy_epochs``) (Paul, Ganguli & Dziugaite 2021, "Deep learning on a
    data diet", arXiv 2107.07075).
``grand``
    The L2 norm of the example's full loss gradient with respect to all proxy parameters at
    the same early epoch (GraNd, same paper), computed exactly with ``torch.func``.
``forgetting``
    Number of forgetting events (correct after epoch t, wrong after epoch t+1) (Toneva et al.
    2019, "An empirical study of example forgetting", arXiv 1812.05159). Examples never
    classified correctly at any epoch end get the maximum, ``proxy_epochs`` (more than any
    learned example can reach), as Toneva et al. rank unlearned examples as most forgotten.
``aum``
    Minus the area under the margin (Pleiss et al. 2020, "Identifying mislabeled data using
    the area under the margin ranking", arXiv 2001.10528): AUM is the mean over epochs of
    (logit of the assigned class - largest other logit). Low AUM flags likely mislabelled
    examples, so the score is **-AUM**; the raw AUM is returned as ``aum_margin``.
``cartography-confidence`` / ``cartography-variability``
    Dataset cartography (Swayamdipta et al. 2020, arXiv 2009.10795): the mean and the
    standard deviation over epochs of the probability of the assigned label. The confidence
    score is ``1 - confidence`` (hard-to-learn examples score high); variability is used as is
    (ambiguous examples score high).
``margin`` / ``entropy``
    After the last epoch: minus the logit margin (as in AUM) and the predictive entropy.

Differences from the papers, for speed and a single code path: the trajectories are read
at epoch ends on the full set in eval mode (Toneva and Pleiss record each example when its
minibatch is presented), and the proxy is a small model on fixed feature vectors
(embeddings), not the final network on raw inputs.

Every metric is a plain function ``el2n(vectors, labels, **options) -> scores``, and every
one accepts the same options, so that within one ``lessdata.score`` call (which shares a
cache between its metrics, see :func:`lessdata.kmeans.cached`) one set of proxy runs per
(vectors, labels, options, seed) serves all the dynamics metrics.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from lessdata.checks import check_choice, check_int
from lessdata.errors import LessdataError
from lessdata.extras import require
from lessdata.kmeans import cached
from lessdata.metrics.registry import Metric, MetricFn, ScoreInputs, register
from lessdata.progress import log
from lessdata.train.model_names import MODELS

#: default proxy settings
PROXY_MODEL = "mlp"
PROXY_EPOCHS = 20
PROXY_RUNS = 3
PROXY_WIDTH = 64
#: fraction of the epochs after which EL2N and GraNd are read (Paul et al. read them after
#: 10% of CIFAR training, 20 of 200 epochs; proxy runs are short, so 20% by default)
EARLY_FRACTION = 0.2


def default_early_epoch(epochs: int) -> int:
    """The epoch at which EL2N and GraNd are read by default: 20% of the way, at least 1."""
    return max(1, math.ceil(EARLY_FRACTION * epochs))


def check_proxy_options(
    proxy_model: Any, proxy_epochs: Any, proxy_runs: Any, width: Any, early_epoch: Any
) -> None:
    """Validate the proxy options (before any training; the pipeline calls this first)."""
    check_choice(proxy_model, "proxy_model", MODELS)
    epochs = check_int(proxy_epochs, "proxy_epochs", low=1)
    check_int(proxy_runs, "proxy_runs", low=1)
    check_int(width, "width", low=1)
    check_int(
        early_epoch,
        "early_epoch",
        low=0,
        high=epochs,
        allow_none=True,
        hint=f"EL2N and GraNd are read after one of the {epochs} proxy epochs",
    )


def _run_seed(seed: int, run: int) -> int:
    return int(np.random.SeedSequence([int(seed), run]).generate_state(1)[0])


def _dynamics(
    vectors: np.ndarray,
    labels: np.ndarray,
    proxy_model: str,
    proxy_epochs: int,
    proxy_runs: int,
    width: int,
    early_epoch: int | None,
    seed: int,
    cache: dict[tuple, Any] | None,
) -> dict[str, np.ndarray]:
    """The run-averaged per-example statistics every dynamics metric reads (cached)."""
    check_proxy_options(proxy_model, proxy_epochs, proxy_runs, width, early_epoch)
    epochs, runs, width = int(proxy_epochs), int(proxy_runs), int(width)
    early = default_early_epoch(epochs) if early_epoch is None else int(early_epoch)
    if vectors.ndim != 2:
        raise LessdataError(f"dynamics metrics need (N, d) vectors, got shape {vectors.shape}")
    labels = np.asarray(labels)
    if len(labels) != len(vectors):
        raise LessdataError(f"{len(labels)} labels for {len(vectors)} vectors")
    key = (
        "dynamics", id(vectors), vectors.shape, id(labels), labels.shape,
        proxy_model, epochs, runs, width, early, int(seed),
    )  # fmt: skip
    return cached(
        cache,
        key,
        lambda: _train_runs(vectors, labels, proxy_model, epochs, runs, width, early, seed),
    )


def _train_runs(
    vectors: np.ndarray,
    labels: np.ndarray,
    model: str,
    epochs: int,
    runs: int,
    width: int,
    early: int,
    seed: int,
) -> dict[str, np.ndarray]:
    require("torch", "the training-dynamics metrics")
    from lessdata.train.trainer import TrainConfig, train_with_dynamics  # imports torch

    classes, y = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise LessdataError("dynamics metrics need at least 2 classes in the labels")
    x = np.asarray(vectors, dtype=np.float32)
    n = len(x)
    totals: dict[str, np.ndarray] = {}
    for run in range(runs):
        log(f"proxy training: {model} (width {width}), run {run + 1}/{runs}, {epochs} epochs")
        config = TrainConfig(width=width, seed=_run_seed(seed, run))
        rec = train_with_dynamics(
            model, x, y.reshape(-1), config=config, epochs=epochs, early_epochs=(early,)
        )
        correct = rec["correct"]
        forgotten = (correct[:-1] & ~correct[1:]).sum(0).astype(np.float64)
        never = ~correct.any(0)
        p_true = rec["p_true"].astype(np.float64)
        stats = {
            "el2n": rec["early_el2n"][0].astype(np.float64),
            "grand": rec["grand"][0].astype(np.float64),
            "forgetting": np.where(never, float(len(correct)), forgotten),
            "aum": rec["margin"].astype(np.float64).mean(0),
            "confidence": p_true.mean(0),
            "variability": p_true.std(0),
            "final_margin": rec["margin"][-1].astype(np.float64),
            "final_entropy": rec["entropy"][-1].astype(np.float64),
        }
        for k, v in stats.items():
            totals[k] = totals.get(k, np.zeros(n)) + v
    return {k: v / runs for k, v in totals.items()}


def _validate(
    *,
    proxy_model: str = PROXY_MODEL,
    proxy_epochs: int = PROXY_EPOCHS,
    proxy_runs: int = PROXY_RUNS,
    width: int = PROXY_WIDTH,
    early_epoch: int | None = None,
) -> None:
    check_proxy_options(proxy_model, proxy_epochs, proxy_runs, width, early_epoch)


def _proxy_doc(fn: MetricFn) -> MetricFn:  # appends the shared options to the docstring
    fn.__doc__ = (fn.__doc__ or "") + (
        "\n    Options (shared by all dynamics metrics, so one set of proxy runs serves them):\n"
        f"        proxy_model: one of {MODELS} (default {PROXY_MODEL!r}); ``logreg`` is a\n"
        "            torch softmax regression here, ``cnn2d`` reads square vectors as images.\n"
        f"        proxy_epochs: training epochs over all examples (default {PROXY_EPOCHS}).\n"
        f"        proxy_runs: independent initialisations averaged (default {PROXY_RUNS}).\n"
        f"        width: proxy hidden width / channels (default {PROXY_WIDTH}).\n"
        "        early_epoch: epoch at which EL2N and GraNd are read (0 = at initialisation;\n"
        "            default 20% of the epochs, rounded up).\n"
    )
    return fn


def _from_runs(
    extract: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]], doc: str
) -> tuple[Callable[..., np.ndarray], MetricFn]:
    """A metric that reads its columns from the shared proxy runs: the plain function on
    arrays (returning its score) and the registry's function (returning every column).

    Every dynamics metric takes the same options, so that one set of runs serves them all.
    """

    def registered(
        inputs: ScoreInputs,
        *,
        proxy_model: str = PROXY_MODEL,
        proxy_epochs: int = PROXY_EPOCHS,
        proxy_runs: int = PROXY_RUNS,
        width: int = PROXY_WIDTH,
        early_epoch: int | None = None,
    ) -> dict[str, np.ndarray]:
        if inputs.records:  # recorded in the user's own training (lessdata.torch.LossRecorder)
            try:
                return extract(inputs.records)
            except KeyError:
                raise LessdataError(
                    "grand needs per-example gradients, which a LossRecorder does not keep; "
                    "score it with the proxy (no `dynamics`)"
                ) from None
        assert inputs.vectors is not None and inputs.labels is not None
        d = _dynamics(
            inputs.vectors, inputs.labels, proxy_model, proxy_epochs, proxy_runs, width,
            early_epoch, inputs.seed, inputs.cache,
        )  # fmt: skip
        return extract(d)

    def plain(
        vectors: np.ndarray,
        labels: np.ndarray,
        *,
        proxy_model: str = PROXY_MODEL,
        proxy_epochs: int = PROXY_EPOCHS,
        proxy_runs: int = PROXY_RUNS,
        width: int = PROXY_WIDTH,
        early_epoch: int | None = None,
        seed: int = 0,
    ) -> np.ndarray:
        d = _dynamics(
            vectors, labels, proxy_model, proxy_epochs, proxy_runs, width, early_epoch, seed,
            None,
        )  # fmt: skip
        return next(iter(extract(d).values()))

    registered.__doc__ = doc
    plain.__doc__ = doc.replace("Returns ``{", "The registry's columns: ``{") + (
        "\n    Args:\n"
        "        vectors: (N, d) feature vectors the proxy model is trained on.\n"
        "        labels: (N,) class labels (at least two classes).\n"
        "        seed: seeds the proxy initialisations and batches.\n"
        "    Returns the (N,) score (higher = harder).\n"
    )
    return _proxy_doc(plain), _proxy_doc(registered)


el2n, _el2n_columns = _from_runs(
    lambda d: {"el2n": d["el2n"].copy()},
    """EL2N: norm of the error vector softmax(f(x)) - onehot(y) early in training.

    Paul et al. 2021: examples with a large early error are the informative (or mislabelled)
    ones; pruning the low-EL2N ones costs little accuracy. Returns ``{"el2n": score}``.
    """,
)

grand, _grand_columns = _from_runs(
    lambda d: {"grand": d["grand"].copy()},
    """GraNd: L2 norm of the per-example cross-entropy gradient w.r.t. all parameters.

    Paul et al. 2021 (expected gradient norm, here averaged over ``proxy_runs``
    initialisations) at ``early_epoch``; the full gradient via ``torch.func``, not a
    last-layer approximation. For the last layer alone it equals
    ``||p - onehot(y)|| * sqrt(||h||^2 + 1)`` (``h`` the penultimate features, +1 for the
    bias), i.e. EL2N times a feature norm: high-error examples score high under both, but
    among well-fit examples GraNd also tracks the size of the features, so early in training
    its ranking of the easy part can differ from EL2N's. Returns ``{"grand": score}``.
    """,
)

forgetting, _forgetting_columns = _from_runs(
    lambda d: {"forgetting": d["forgetting"].copy()},
    """Forgetting events: times an example goes from correct to wrong between epoch ends.

    Toneva et al. 2019. An example never correct at any epoch end scores ``proxy_epochs``
    (the maximum; a learned example has at most ``proxy_epochs // 2`` events). Averaged over
    runs. Returns ``{"forgetting": score}``.
    """,
)

aum, _aum_columns = _from_runs(
    lambda d: {"aum": -d["aum"], "aum_margin": d["aum"].copy()},
    """Minus the area under the margin (Pleiss et al. 2020).

    AUM = mean over epochs (and runs) of the assigned-class logit minus the largest other
    logit; a low or negative AUM marks a likely mislabelled example. Returns
    ``{"aum": -AUM (higher = more suspect), "aum_margin": AUM}``.
    """,
)

cartography_confidence, _cartography_confidence_columns = _from_runs(
    lambda d: {"cartography-confidence": 1.0 - d["confidence"]},
    """One minus the cartography confidence (Swayamdipta et al. 2020).

    Confidence = mean over epochs of the probability of the assigned label; low confidence
    means hard to learn (or mislabelled). Returns ``{"cartography-confidence": 1 - conf}``.
    """,
)

cartography_variability, _cartography_variability_columns = _from_runs(
    lambda d: {"cartography-variability": d["variability"].copy()},
    """Cartography variability (Swayamdipta et al. 2020): the standard deviation over epochs
    of the assigned label's probability (averaged over runs). High = ambiguous: the model
    keeps changing its mind. Returns ``{"cartography-variability": std}``.
    """,
)

margin, _margin_columns = _from_runs(
    lambda d: {"margin": -d["final_margin"]},
    """Minus the final logit margin: assigned-class logit minus the largest other logit after
    the last epoch (averaged over runs). Returns ``{"margin": -margin}``.
    """,
)

entropy, _entropy_columns = _from_runs(
    lambda d: {"entropy": d["final_entropy"].copy()},
    """Predictive entropy (nats) of the proxy after the last epoch (averaged over runs);
    high = uncertain. Returns ``{"entropy": entropy}``.
    """,
)

_DYNAMICS = (
    ("el2n", _el2n_columns, "error-vector norm early in proxy training (EL2N, Paul et al. 2021)",
     "large early error: informative, hard or mislabelled"),
    ("grand", _grand_columns,
     "per-example gradient norm early in proxy training (GraNd, Paul et al. 2021)",
     "large early gradient: informative, hard or mislabelled"),
    ("forgetting", _forgetting_columns,
     "forgetting events during proxy training (Toneva et al. 2019)",
     "often forgotten or never learned: hard, ambiguous or mislabelled"),
    ("aum", _aum_columns, "minus the area under the margin (AUM, Pleiss et al. 2020); score = -AUM",
     "low or negative AUM: the model rarely favours the label: likely mislabelled"),
    ("cartography-confidence", _cartography_confidence_columns,
     "1 - mean probability of the label over proxy epochs (Swayamdipta et al. 2020)",
     "low confidence: hard to learn or mislabelled"),
    ("cartography-variability", _cartography_variability_columns,
     "std of the label's probability over proxy epochs (Swayamdipta et al. 2020)",
     "variable confidence: ambiguous"),
    ("margin", _margin_columns, "minus the final logit margin of the proxy model; score = -margin",
     "small or negative margin: near the boundary or misclassified"),
    ("entropy", _entropy_columns, "predictive entropy of the final proxy model",
     "uncertain prediction: hard or ambiguous"),
)  # fmt: skip

for _name, _fn, _summary, _high in _DYNAMICS:
    register(
        Metric(
            name=_name,
            fn=_fn,
            summary=_summary,
            high_means=_high,
            needs_labels=True,
            needs_training=True,
            validate=_validate,
        )
    )
