"""The option dicts of the pipeline, checked once, before any work.

Python callers pass metric knobs in ``metric_options``, policy knobs in ``policy_options``
and deduplication knobs in ``method_options`` / ``dedup_options``; each dict is checked
against what the chosen metrics, policy or methods take, so that a misspelt or misplaced
option is an error rather than silently ignored.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field, fields
from typing import Any

from lessdata.checks import check_choice, check_float, check_int, check_options
from lessdata.duplicates import KINDS
from lessdata.duplicates.groups import KEEP_RULES
from lessdata.duplicates.lsh import NearOptions
from lessdata.duplicates.semdedup import SCOPES, SURVIVORS, check_eps
from lessdata.errors import LessdataError
from lessdata.metrics.prototype_metrics import DISTANCES
from lessdata.metrics.registry import Metric
from lessdata.select import POLICIES, policy_options_of

#: the options of each deduplication method
METHOD_OPTIONS = {
    "exact": ("keep_rule",),
    "near": ("keep_rule", *(f.name for f in fields(NearOptions))),
    "semantic": ("eps", "survivor", "k", "keep", "scope"),
}


def check_metric_options(chosen: list[Metric], options: dict[str, Any] | None) -> dict[str, Any]:
    """``options`` after checking that the chosen metrics take every one of them."""
    accepted = set().union(*(m.options for m in chosen))
    names = ", ".join(m.name for m in chosen)
    given = check_options(options, accepted, f"metric_options of {names}")
    # the shared knobs are checked now, before any embedding or training
    if "k" in given:
        given["k"] = check_int(given["k"], "k", low=1, allow_none=True)
    if "distance" in given:
        check_choice(given["distance"], "distance", DISTANCES)
    if "eps" in given:
        given["eps"] = check_eps(given["eps"])
    if "survivor" in given:
        check_choice(given["survivor"], "survivor", SURVIVORS)
    for metric in chosen:  # each metric's own knobs (proxy settings, DSIR's target, ...)
        metric.check(**given)
    return given


def check_policy_options(policy: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """``options`` after checking that ``policy`` takes every one of them."""
    check_choice(policy, "policy", (*POLICIES, "d4"))
    accepted = () if policy == "d4" else policy_options_of(policy)
    given = check_options(options, accepted, f"policy_options of {policy}")
    if given.get("auto_threshold") is not None:
        check_float(given["auto_threshold"], "auto_threshold", low=0, high=1, closed="right")
    if given.get("ccs_beta") is not None:
        check_float(given["ccs_beta"], "ccs_beta", low=0, high=1, closed="left")
    check_int(given.get("ccs_strata"), "ccs_strata", low=1, allow_none=True)
    check_int(given.get("d2_k"), "d2_k", low=1, high=1000, allow_none=True)
    if given.get("d2_gamma") is not None:
        check_float(given["d2_gamma"], "d2_gamma", low=0, high=1000, closed="both")
    return {k: v for k, v in given.items() if v is not None}


@dataclass(frozen=True)
class DedupOptions:
    """The settings of a chain of deduplication methods (see :func:`dedup_options`)."""

    methods: tuple[str, ...]
    keep_rule: str = "first"
    near: NearOptions = field(default_factory=NearOptions)
    eps: float = 0.05
    survivor: str = "hard"
    k: int | None = None
    #: semantic to a target size: documents to keep (int) or the fraction of the corpus
    keep: int | float | None = None
    #: where SemDeDup looks: ``neighbours`` (its cluster and the next-nearest ones) or
    #: ``cluster`` (the paper's rule); a target size (``keep``) looks within clusters
    scope: str = "neighbours"

    def target_size(self, n: int) -> int | None:
        """The number of documents ``keep`` leaves of a corpus of ``n``; None without it."""
        if self.keep is None:
            return None
        size = self.keep if isinstance(self.keep, int) else round(self.keep * n)
        if size > n:
            raise LessdataError(
                f"keep={self.keep} asks for {size} documents but the corpus holds {n}; "
                "give at most the corpus size (or a fraction in (0, 1])",
                param="keep",
            )
        return max(int(size), 1)


def dedup_methods(
    methods: Any, name: str = "method", *, allow_none: bool = False
) -> tuple[str, ...]:
    """The methods named, in the order they chain (exact → near → semantic); ``name`` is the
    caller's parameter (``method`` for dedup, ``dedup`` for curate)."""
    wanted = [methods] if isinstance(methods, str) else list(methods)
    for method in wanted:
        check_choice(method, name, KINDS)
    if not wanted and not allow_none:
        raise LessdataError(f"name at least one method among {', '.join(KINDS)}", param=name)
    return tuple(kind for kind in KINDS if kind in wanted)


def resolve_dedup_options(methods: tuple[str, ...], options: dict[str, Any] | None) -> DedupOptions:
    """Check ``options`` against what ``methods`` take; the resolved settings."""
    accepted = {name for method in methods for name in METHOD_OPTIONS[method]}
    if isinstance(options, dict):
        _refuse_foreign_options(methods, set(options) - accepted, accepted)
    given = check_options(options, accepted, f"options of {', '.join(methods) or 'no method'}")
    near = NearOptions(**{k: v for k, v in given.items() if k in METHOD_OPTIONS["near"][1:]})
    keep_rule = check_choice(given.get("keep_rule", "first"), "keep_rule", KEEP_RULES)
    eps = check_eps(given.get("eps", 0.05))
    survivor = check_choice(given.get("survivor", "hard"), "survivor", SURVIVORS)
    k = check_int(given.get("k"), "k", low=1, allow_none=True)
    keep = check_keep_size(given.get("keep"))
    scope = check_choice(given.get("scope", "neighbours"), "scope", SCOPES)
    if keep is not None and "eps" in given:
        raise LessdataError(
            "give `eps` (a similarity threshold) or `keep` (a target size, whose threshold "
            "is chosen), not both",
            param="keep",
        )
    return DedupOptions(methods, keep_rule, near, eps, survivor, k, keep, scope)


def _refuse_foreign_options(
    methods: tuple[str, ...], foreign: set[str], accepted: set[str]
) -> None:
    """Refuse options that none of ``methods`` takes, saying which method takes each.

    Option names are in backticks, so that the CLI shows its flags (``--keep``,
    ``--keep-rule``) where Python shows the names of the options dict (``keep``, ``keep_rule``).
    """
    if not foreign:
        return
    notes = []
    for option in sorted(foreign):
        owners = [m for m in METHOD_OPTIONS if option in METHOD_OPTIONS[m]]
        where = f"an option of {' and '.join(owners)}" if owners else "no method's option"
        notes.append(f"`{option}` ({where})")
    takes = ", ".join(f"`{option}`" for option in sorted(accepted)) or "no options"
    raise LessdataError(
        f"{', '.join(notes)} {'does' if len(notes) == 1 else 'do'} not apply to "
        f"{' + '.join(methods) or 'no method'}, which take{'s' * (len(methods) == 1)} {takes}"
    )


def check_keep_size(keep: Any) -> int | float | None:
    """A target size: a whole number of documents (>= 1) or a fraction in (0, 1]."""
    if keep is None:
        return None
    if isinstance(keep, numbers.Integral) and not isinstance(keep, bool):
        keep = int(keep)  # numpy integers too
    if isinstance(keep, bool) or not isinstance(keep, int | float):
        raise LessdataError(
            f"keep must be a number of documents or a fraction in (0, 1], got {keep!r}",
            param="keep",
        )
    if isinstance(keep, int):
        return check_int(keep, "keep", low=1, hint="documents to keep")
    return check_float(
        keep, "keep", low=0, high=1, closed="right", hint="a fraction of the corpus to keep"
    )
