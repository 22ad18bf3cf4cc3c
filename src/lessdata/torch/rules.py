"""Which examples a dynamic-pruning epoch skips, and the weights of the kept ones.

Each rule is a plain function of the loss table (NaN where no loss was recorded) and a NumPy
generator seeded by ``(seed, epoch)``; it returns ``(keep, weights)``, a boolean mask and the
weights :meth:`~lessdata.torch.DynamicPruningSampler.update` hands back. Same losses, same
generator: same decisions, on every rank.

* :func:`infobatch_by_ratio`: InfoBatch (Qin et al., *InfoBatch: Lossless Training Speed Up by
  Unbiased Dynamic Data Pruning*, ICLR 2024, arXiv 2303.04947) as published: each example
  whose loss is below the mean is skipped with probability ``prune_ratio``; the kept ones among
  them weigh ``1 / (1 - prune_ratio)``.
* :func:`infobatch_by_count`: the same rule made to skip an exact count (for a planned epoch
  size): ``skip`` examples drawn uniformly from a *pool* — the below-mean examples, grown with
  the next-lowest losses until ``skip / pool <= max_skip`` — and the kept pool members weigh
  ``pool / (pool - skip)``, the inverse of their chance of being kept, so the expected
  re-weighted gradient is still the full-data one (Horvitz-Thompson).
* :func:`seta_window`: SeTa (Zhou, Gao and Wang, *Scale Efficient Training for Large
  Datasets*, CVPR 2025, arXiv 2503.13385; github.com/mrazhou/SeTa): a random share of the
  examples (redundancy), sorted by loss into ``groups`` groups, of which a window of
  consecutive groups slides from easy to hard, epoch by epoch. Simplified here: the groups are
  equal-count loss quantiles, not 1-D k-means clusters, so that an epoch's size is exact (and
  can be planned); SeTa does not re-weight (all weights 1).
* :func:`random_by_count` / :func:`random_by_ratio`: uniform random skipping, the baseline
  any loss-based rule must beat at the same per-epoch sizes (weights 1: a uniform sample's
  batch mean is already unbiased).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lessdata.checks import check_float, check_int, check_options


def _by_loss(losses: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices from the lowest loss to the highest; unrecorded (NaN) last; ties at random."""
    key = np.where(np.isnan(losses), np.inf, losses)
    return np.lexsort((rng.random(len(losses)), key))


def infobatch_by_ratio(
    losses: np.ndarray, rng: np.random.Generator, prune_ratio: float
) -> tuple[np.ndarray, np.ndarray]:
    """InfoBatch as published: skip each below-mean example with chance ``prune_ratio``."""
    n = len(losses)
    keep, weights = np.ones(n, dtype=bool), np.ones(n)
    recorded = ~np.isnan(losses)
    if recorded.any():
        well_learned = recorded & (losses < np.nanmean(losses))
        skip = well_learned & (rng.random(n) < prune_ratio)
        keep = ~skip
        weights[well_learned & keep] = 1 / (1 - prune_ratio)
    return keep, weights


def infobatch_by_count(
    losses: np.ndarray, rng: np.random.Generator, skip: int, max_skip: float
) -> tuple[np.ndarray, np.ndarray]:
    """Skip exactly ``skip`` examples, uniformly from the low-loss pool (see the module)."""
    n = len(losses)
    keep, weights = np.ones(n, dtype=bool), np.ones(n)
    if skip <= 0:
        return keep, weights
    recorded = ~np.isnan(losses)
    below = int((recorded & (losses < np.nanmean(losses))).sum()) if recorded.any() else 0
    pool_size = min(n, max(below, math.ceil(skip / max_skip), skip + 1))
    pool = _by_loss(losses, rng)[:pool_size]
    skipped = pool[rng.permutation(pool_size)[:skip]]
    keep[skipped] = False
    weights[pool[keep[pool]]] = pool_size / (pool_size - skip)
    return keep, weights


def seta_window(
    losses: np.ndarray,
    rng: np.random.Generator,
    size: int,
    epoch: int,
    groups: int,
    window: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Keep ``size`` examples: a window over the loss-sorted random candidates, starting at
    group ``epoch % (groups - window + 1)`` (SeTa's easy-to-hard slide, cyclic)."""
    n = len(losses)
    candidates = min(n, max(size, math.ceil(size * groups / window)))
    pick = rng.permutation(n)[:candidates]
    ranked = pick[_by_loss(losses[pick], rng)]
    start = min((epoch % (groups - window + 1)) * candidates // groups, candidates - size)
    keep = np.zeros(n, dtype=bool)
    keep[ranked[start : start + size]] = True
    return keep, np.ones(n)


def random_by_count(n: int, rng: np.random.Generator, skip: int) -> tuple[np.ndarray, np.ndarray]:
    """Skip ``skip`` examples drawn uniformly."""
    keep = np.ones(n, dtype=bool)
    keep[rng.permutation(n)[:skip]] = False
    return keep, np.ones(n)


def random_by_ratio(
    n: int, rng: np.random.Generator, prune_ratio: float
) -> tuple[np.ndarray, np.ndarray]:
    """Skip each example with chance ``prune_ratio``."""
    return rng.random(n) >= prune_ratio, np.ones(n)


#: the rules :class:`~lessdata.torch.DynamicPruningSampler` takes, and the options of each
METHODS = {"infobatch": {"max_skip": 0.7}, "seta": {"groups": 5, "window": 0.9}, "random": {}}
#: each method's ``prune_ratio`` when neither it nor a target or plan is given
DEFAULT_RATIO = {"infobatch": 0.5, "seta": 0.1, "random": 0.5}


def method_options(method: str, given: dict | None) -> dict[str, Any]:
    """``method``'s options: its defaults updated by ``given``, each checked."""
    what = f"method_options of {method}"
    options = {**METHODS[method], **check_options(given, METHODS[method], what)}
    if method == "infobatch":
        options["max_skip"] = check_float(options["max_skip"], "max_skip", low=0, high=1,
                                          closed="neither")  # fmt: skip
    if method == "seta":
        options["groups"] = check_int(options["groups"], "groups", low=1)
        options["window"] = check_float(options["window"], "window", low=0, high=1, closed="right")
    return options
