"""Selection policies: scores + a budget → the sorted indices of the examples to keep.

Every policy is a function ``(scores, budget, rng, **options) -> sorted int64 indices`` of
exactly ``budget`` unique rows; scores follow the house direction (higher = harder). Ties
are broken by a seeded random key, so the same seed gives the same subset.

Policies:
    keep-hard   the ``budget`` highest scores.
    keep-easy   the ``budget`` lowest scores.
    auto        without a calibration: keep-hard when the kept fraction is at least
                ``auto_threshold`` (default 0.9), else **random**. Sorscher et al. 2022
                (arXiv 2206.14486) show that the best policy flips with the amount of data
                and that an imperfect metric has a minimum useful fraction below which
                pruning by it loses to random; where those lie differs per dataset, and
                ``lessdata calibrate`` measures them (``prune(..., calibration=...)``).
                Uncalibrated, auto takes the choice whose measured risk is smallest: on
                MNIST-1D (4,000 examples, 3 seeds, docs/policies.md) keep-easy lost 2 to 42
                points to random at 10–70% kept with all four metrics, keep-hard lost up to
                22 points below 50% and 3.1 (EL2N) at 70%, and only at 90% kept did
                keep-hard beat random with every metric (+0.8 to +2.2); CCS (Zheng et al.
                2023) likewise has hard selection beat random on CIFAR-10 only at large
                kept fractions.
    random      a seeded uniform draw (ignores the scores).
    moderate    the examples whose scores lie closest to the median (Xia et al., ICLR 2023,
                "Moderate coreset").
    ccs         coverage-centric selection (Zheng et al., ICLR 2023): drop the hardest
                ``ccs_beta`` fraction (mislabelled / noisy examples), split the remaining
                score range into ``ccs_strata`` equal-width strata and fill the budget from
                the smallest stratum up, drawing at random inside each.
    d2          D2 pruning (Maharana et al. 2023): difficulty spread over a kNN graph of the
                examples' ``vectors``, then a greedy pick that lowers each pick's neighbours
                (difficulty and coverage at once; :mod:`lessdata.message_passing`).

``class_balanced=True`` (any policy but D4) first splits the budget across classes as
evenly as their sizes allow, then applies the policy inside each class.
D4 (SemDeDup, then prototype pruning) needs vectors, not just scores: see
:mod:`lessdata.pipeline.pruning`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from lessdata.budget import resolve_budget
from lessdata.checks import check_choice, check_float, check_int, check_options
from lessdata.errors import LessdataError
from lessdata.message_passing import D2_GAMMA, D2_K, d2_select
from lessdata.ties import tie_keys, tie_seed_of

Policy = Callable[..., np.ndarray]

AUTO_THRESHOLD = 0.9
CCS_BETA = 0.1
CCS_STRATA = 50


def _order(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices from easiest to hardest; ties in a seeded random order (then by row)."""
    ties = tie_keys(tie_seed_of(rng), np.arange(len(scores)))
    return np.lexsort((ties, scores))


def keep_hard(scores: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """The ``budget`` highest-scoring (hardest) examples."""
    return np.sort(_order(scores, rng)[len(scores) - budget :])


def keep_easy(scores: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """The ``budget`` lowest-scoring (easiest, most prototypical) examples."""
    return np.sort(_order(scores, rng)[:budget])


def auto_policy_name(fraction: float, threshold: float = AUTO_THRESHOLD) -> str:
    """What uncalibrated ``auto`` does at a kept fraction: ``keep-hard`` or ``random``."""
    return "keep-hard" if fraction >= threshold else "random"


def auto(
    scores: np.ndarray,
    budget: int,
    rng: np.random.Generator,
    *,
    auto_threshold: float = AUTO_THRESHOLD,
    fraction: float | None = None,
) -> np.ndarray:
    """Keep hard examples when the kept fraction is large, a random subset when it is small.

    ``fraction`` is the kept fraction of the whole dataset (default ``budget / len(scores)``);
    :func:`select` passes the requested one, so that a class of a class-balanced selection,
    or a budget rounded to a count, is judged by what the user asked for.
    """
    auto_threshold = check_float(auto_threshold, "auto_threshold", low=0, high=1, closed="right")
    fraction = budget / len(scores) if fraction is None else fraction
    chosen = auto_policy_name(fraction, auto_threshold)
    return (keep_hard if chosen == "keep-hard" else random_policy)(scores, budget, rng)


def kept_fraction(keep: float | int, n: int) -> float:
    """The fraction a budget asks for: the fraction itself, or count / N."""
    return float(keep) if isinstance(keep, float) else resolve_budget(keep, n) / n


def random_policy(scores: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """A seeded uniform sample of ``budget`` examples: those with the smallest tie keys
    (so a sharded run draws the same sample)."""
    return keep_easy(np.zeros(len(scores)), budget, rng)


def moderate(scores: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """The ``budget`` examples whose scores are closest to the median score."""
    gap = np.abs(scores - np.median(scores))
    return np.sort(_order(gap, rng)[:budget])


def ccs(
    scores: np.ndarray,
    budget: int,
    rng: np.random.Generator,
    *,
    ccs_beta: float = CCS_BETA,
    ccs_strata: int = CCS_STRATA,
) -> np.ndarray:
    """Coverage-centric selection (Zheng et al. 2023, Algorithm 1).

    Drops the hardest ``min(floor(beta * N), N - budget)`` examples, bins the rest into
    ``ccs_strata`` equal-width score strata, and visits the non-empty strata from smallest
    to largest, taking ``min(size, remaining // strata_left)`` at random from each.
    """
    ccs_beta = check_float(ccs_beta, "ccs_beta", low=0, high=1, closed="left")
    ccs_strata = check_int(ccs_strata, "ccs_strata", low=1)
    n = len(scores)
    order = _order(scores, rng)
    n_drop = min(int(np.floor(ccs_beta * n)), n - budget)
    pool = order[: n - n_drop]
    pool_scores = scores[pool]
    lo, hi = float(pool_scores.min()), float(pool_scores.max())
    edges = np.linspace(lo, hi, ccs_strata + 1)
    stratum = np.clip(np.searchsorted(edges, pool_scores, side="right") - 1, 0, ccs_strata - 1)
    members = [pool[stratum == s] for s in range(ccs_strata)]
    members = sorted((m for m in members if len(m)), key=len)
    chosen: list[np.ndarray] = []
    remaining = budget
    for left, group in zip(range(len(members), 0, -1), members, strict=True):
        take = min(len(group), remaining // left)
        chosen.append(rng.choice(group, size=take, replace=False))
        remaining -= take
    picked = np.concatenate(chosen) if chosen else np.empty(0, dtype=np.int64)
    if remaining:  # floor division left a few slots: fill them at random from the pool
        rest = np.setdiff1d(pool, picked)
        picked = np.concatenate([picked, rng.choice(rest, size=remaining, replace=False)])
    return np.sort(picked.astype(np.int64))


def importance(scores: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """Importance resampling without replacement: ``scores`` are log importance weights.

    Keeps ``budget`` examples drawn without replacement with probability proportional to
    ``exp(score)``, by the Gumbel top-k trick (keep the top ``budget`` of ``score + G``,
    ``G ~ Gumbel(0, 1)``). This is DSIR's resampling step (Xie et al. 2023): with the
    ``dsir`` metric it picks target-like examples while keeping some diversity, where
    ``keep-hard`` would take the deterministic top-k.
    """
    noisy = scores + rng.gumbel(size=len(scores))
    return np.sort(np.argsort(-noisy, kind="stable")[:budget])


def d2(
    scores: np.ndarray,
    budget: int,
    rng: np.random.Generator,
    *,
    vectors: np.ndarray,
    d2_k: int = D2_K,
    d2_gamma: float = D2_GAMMA,
) -> np.ndarray:
    """D2 pruning: forward message passing of difficulty on the ``d2_k``-NN graph of
    ``vectors``, then reverse message passing while picking (see
    :mod:`lessdata.message_passing`). Deterministic: ``rng`` is not used."""
    d2_k = check_int(d2_k, "d2_k", low=1, high=1000)
    d2_gamma = check_float(d2_gamma, "d2_gamma", low=0, high=1000, closed="both")
    return d2_select(scores, vectors, budget, k=d2_k, gamma=d2_gamma)


POLICIES: dict[str, Policy] = {
    "keep-hard": keep_hard,
    "keep-easy": keep_easy,
    "auto": auto,
    "random": random_policy,
    "moderate": moderate,
    "ccs": ccs,
    "importance": importance,
    "d2": d2,
}

#: policies that need each example's vector, not only its score
NEEDS_VECTORS = ("d2",)


def split_budget(labels: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """Share ``budget`` across classes as evenly as their sizes allow (water-filling).

    Each class gets ``budget / n_classes``; classes smaller than that give all they have and
    the rest is shared among the others. Leftover single slots go to random classes.
    """
    sizes = np.bincount(labels)
    share = np.zeros_like(sizes)
    open_ = sizes > 0
    remaining = budget
    while remaining > 0 and open_.any():
        per = remaining // int(open_.sum())
        if per == 0:  # fewer slots than open classes: one each to a random few
            lucky = rng.choice(np.flatnonzero(open_), size=remaining, replace=False)
            share[lucky] += 1
            break
        room = sizes - share
        give = np.where(open_, np.minimum(room, per), 0)
        share += give
        remaining -= int(give.sum())
        open_ = share < sizes
    return share


def select(
    scores: np.ndarray,
    keep: float | int,
    *,
    policy: str = "auto",
    labels: np.ndarray | None = None,
    class_balanced: bool = False,
    seed: int = 0,
    vectors: np.ndarray | None = None,
    **options: Any,
) -> np.ndarray:
    """Choose which examples to keep; return their sorted int64 indices.

    Args:
        scores: one score per example, higher = harder.
        keep: a fraction in (0, 1] or a count in 1..N.
        policy: a name from :data:`POLICIES`.
        labels: class index per example, needed for ``class_balanced``.
        class_balanced: split the budget evenly across classes first.
        seed: seeds tie-breaking and random draws.
        vectors: ``(N, d)`` embeddings, for the policies that need them (``d2``).
        **options: the policy's options (``auto_threshold`` for auto; ``ccs_beta`` and
            ``ccs_strata`` for ccs; ``d2_k`` and ``d2_gamma`` for d2); others are refused.

    Example:
        >>> select(np.array([0.1, 0.9, 0.5, 0.7]), 2, policy="keep-hard")
        array([1, 3])
    """
    check_choice(policy, "policy", POLICIES)
    check_options(options, policy_options_of(policy), f"options of policy {policy}")
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise LessdataError(f"scores must be one value per example, got shape {scores.shape}")
    if not np.isfinite(scores).all():
        raise LessdataError("scores hold NaN or inf; recompute them or drop those examples")
    n = len(scores)
    budget = resolve_budget(keep, n)
    fn = POLICIES[policy]
    if policy == "auto":
        options = {**options, "fraction": kept_fraction(keep, n)}
    accepted = {k: v for k, v in options.items() if v is not None}
    vectors = _check_vectors(vectors, n, policy) if policy in NEEDS_VECTORS else None
    rng = np.random.default_rng(seed)
    if not class_balanced:
        if vectors is not None:
            accepted["vectors"] = vectors
        return fn(scores, budget, rng, **accepted).astype(np.int64)
    if labels is None:
        raise LessdataError("class-balanced selection needs labels: pass `labels`")
    labels = np.asarray(labels)
    if labels.shape != scores.shape:
        raise LessdataError(f"{len(labels)} labels for {n} scores")
    labels = np.unique(labels, return_inverse=True)[1].reshape(-1)
    shares = split_budget(labels, budget, rng)
    kept = []
    for cls in np.flatnonzero(shares):
        members = np.flatnonzero(labels == cls)
        if vectors is not None:
            accepted["vectors"] = vectors[members]
        local = fn(scores[members], int(shares[cls]), rng, **accepted)
        kept.append(members[local])
    return np.sort(np.concatenate(kept)).astype(np.int64)


def policy_options_of(policy: str) -> tuple[str, ...]:
    """The options ``policy`` takes (its keyword-only parameters; auto's ``fraction`` is
    :func:`select`'s to set)."""
    params = inspect.signature(POLICIES[policy]).parameters.values()
    names = (p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)
    return tuple(name for name in names if name not in ("fraction", "vectors"))


def _check_vectors(vectors: np.ndarray | None, n: int, policy: str) -> np.ndarray:
    if vectors is None:
        raise LessdataError(
            f"policy {policy} needs each example's vector: pass `vectors`", param="vectors"
        )
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or len(vectors) != n:
        raise LessdataError(
            f"policy {policy} needs one vector per score: got shape {vectors.shape} for {n} scores",
            param="vectors",
        )
    return vectors
