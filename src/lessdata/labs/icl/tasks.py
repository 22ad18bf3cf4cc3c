"""ICL tasks: function families, finite task pools, capped task directions and OOD shifts.

Why this exists: to ask whether in-context ("type 2") learning generalises beyond the tasks
it was pretrained on, we need tasks we control exactly. A :class:`TaskSpec` names a family
of functions (Garg et al. 2022, arXiv 2208.01066) and how its tasks are drawn; a
:class:`TaskSampler` turns it into prompt batches ``xs`` (B, n, d), ``ys`` (B, n).

Families (x ~ N(0, I_d) unless a shift says otherwise):

* ``linear``: y = w·x, w ~ N(0, I_d), noiseless (E y² = d);
* ``noisy-linear``: y = w·x + ε, ε ~ N(0, noise²) (Raventós et al. 2023: noise = 0.5);
* ``sparse-linear``: w has ``sparsity`` nonzero coordinates, each N(0, 1), at uniformly
  chosen places (as Garg's code: not rescaled, so E y² = sparsity);
* ``relu-net``: y = Σ_j a_j ReLU(v_j·x), v_j ~ N(0, I_d), a_j ~ N(0, 2/hidden) (E y² = d);
* ``tree``: a full binary tree of depth ``depth``; each inner node tests ``x[c] > 0`` for a
  uniformly drawn coordinate c (true goes right), leaves hold N(0, 1) values (E y² = 1).

Task sources. With ``pool_size = M`` the sampler draws M tasks once, from a CPU generator
seeded by ``pool_seed`` (so the pool is the same on every device), and training prompts use
only those (Raventós et al.'s finite task diversity). ``cap_angle`` restricts the directions
of linear tasks to a cap around the first axis (pool or fresh); the ``outside-cap`` shift
draws tasks from the rest of the sphere. ``source="fresh"`` ignores pool and cap.

Shifts (Garg et al. section 4), each with a ``strength`` (default in brackets):

* ``skewed-covariance`` (2): x ~ N(0, Σ), Σ = Q diag(λ) Qᵀ, λ_i ∝ i^-strength scaled so
  trace Σ = d, Q a random rotation drawn once per :meth:`TaskSampler.sample` call (as Garg's
  evaluation draws one transformation per run, so the batch's covariance is Σ);
* ``subspace`` (d // 2): x lies in a random ``strength``-dimensional subspace, one per call,
  rescaled so E|x|² = d;
* ``scaled-inputs`` (2): x ← c·x;  ``scaled-weights`` (2): w ← c·w (linear families only);
* ``noisy-labels`` (1): N(0, c²) noise added to every label. Every position is both a
  query and an in-context example for later positions, so the targets are noisy too and an
  error against ``ys`` includes c²/d; ``info["ys_clean"]`` holds the noise-free values
  and ``info["ys_unshifted"]`` the labels with only the family's own noise;
* ``orthants``: each prompt draws a sign pattern s; points 0..n-2 are |x|·s (one orthant)
  and the final point is |x|·(-s), the opposite orthant (Garg's "opposite quadrants").
  Evaluate only the final position (``info["final_only"]`` is True): earlier queries lie in
  the context's orthant;
* ``outside-cap``: tasks whose direction is more than ``cap_angle`` from the first axis.
* ``at-angle``: dense linear tasks whose direction is exactly ``strength`` degrees from the
  first axis (uniform around it): the probe of how far in-context learning extrapolates
  beyond a training cap. It is a battery (one row per test angle), never a default shift.

Randomness: every draw of :meth:`TaskSampler.sample` comes from the generator it is given,
on that generator's device; the results are then moved to the sampler's device. The same
generator state gives the same batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import special

from lessdata.errors import LessdataError

FAMILIES = ("linear", "noisy-linear", "sparse-linear", "relu-net", "tree")
SHIFTS = (
    "none",
    "skewed-covariance",
    "subspace",
    "scaled-inputs",
    "scaled-weights",
    "noisy-labels",
    "orthants",
    "outside-cap",
    "at-angle",
)
SOURCES = ("train", "pool", "fresh")
#: families whose tasks are weight vectors w (``info["w"]`` is set, weight shifts apply)
LINEAR_FAMILIES = ("linear", "noisy-linear", "sparse-linear")
#: families whose weights are dense N(0, I_d): the ones a direction cap applies to
DENSE_FAMILIES = ("linear", "noisy-linear")
#: default strength of each shift (None: the shift takes no strength)
DEFAULT_STRENGTH: dict[str, float | None] = {
    "none": None,
    "skewed-covariance": 2.0,
    "subspace": None,  # d // 2, known only with the spec
    "scaled-inputs": 2.0,
    "scaled-weights": 2.0,
    "noisy-labels": 1.0,
    "orthants": None,
    "outside-cap": None,
    "at-angle": 90.0,
}
#: tasks drawn from a capped prior to stand in for it (dMMSE restricted to the cap)
PRIOR_SAMPLES = 32_768
#: seed of that draw (fixed: the same stand-in for every run of a cap)
PRIOR_SEED = 0x63617073  # "caps"
MAX_DEPTH = 16


def _is_int(value: object) -> bool:
    """True for a whole number that is not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    """True for a finite real number that is not a bool."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    return ok and math.isfinite(float(value))


@dataclass(frozen=True)
class TaskSpec:
    """Which functions the prompts hold and how their tasks are drawn.

    Args:
        family: one of :data:`FAMILIES`.
        d: input dimension.
        n_points: points per prompt (k = 0..n_points-1 in-context examples).
        noise: label noise std of ``noisy-linear`` (other families are noiseless; see
            :attr:`label_noise`).
        sparsity: nonzero weights of ``sparse-linear``.
        hidden: hidden units of ``relu-net`` (Garg: 100).
        depth: depth of ``tree`` (Garg: 4).
        pool_size: M, the number of pretraining tasks, drawn once; None = a fresh task for
            every prompt (infinite task diversity).
        pool_seed: seed of the pool draw.
        cap_angle: degrees; when set, linear tasks (pool or fresh) have directions within
            this half-angle of the first axis (``linear`` and ``noisy-linear`` only).

    Example:
        >>> spec = TaskSpec(family="noisy-linear", pool_size=16).check()
        >>> spec.label_noise
        0.5
    """

    family: str = "noisy-linear"
    d: int = 5
    n_points: int = 11
    noise: float = 0.5
    sparsity: int = 2
    hidden: int = 100
    depth: int = 4
    pool_size: int | None = None
    pool_seed: int = 0
    cap_angle: float | None = None

    @property
    def label_noise(self) -> float:
        """The label noise std the prompts really carry: ``noise`` for noisy-linear, else 0."""
        return float(self.noise) if self.family == "noisy-linear" else 0.0

    @property
    def is_linear(self) -> bool:
        """True when tasks are weight vectors (``info["w"]`` is set)."""
        return self.family in LINEAR_FAMILIES

    def check(self) -> TaskSpec:
        """Validate every field; return self. Raises LessdataError with the fix."""
        if self.family not in FAMILIES:
            raise LessdataError(f"task family must be one of {FAMILIES}, got {self.family!r}")
        for name, low in (("d", 1), ("n_points", 1), ("hidden", 1), ("depth", 1)):
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise LessdataError(f"task {name} must be a whole number >= {low}, got {value!r}")
        if self.depth > MAX_DEPTH:
            raise LessdataError(f"tree depth must be at most {MAX_DEPTH}, got {self.depth}")
        if not _is_real(self.noise) or self.noise < 0:
            raise LessdataError(f"label noise must be a finite number >= 0, got {self.noise!r}")
        if self.family == "sparse-linear" and (
            not _is_int(self.sparsity) or not 1 <= self.sparsity <= self.d
        ):
            raise LessdataError(
                f"sparsity must be a whole number in 1..d={self.d}, got {self.sparsity!r}"
            )
        if self.pool_size is not None and (not _is_int(self.pool_size) or self.pool_size < 1):
            raise LessdataError(
                f"pool_size (M) must be a whole number >= 1, or None for fresh tasks; "
                f"got {self.pool_size!r}"
            )
        if not _is_int(self.pool_seed):
            raise LessdataError(f"pool_seed must be a whole number, got {self.pool_seed!r}")
        if self.cap_angle is not None:
            if not _is_real(self.cap_angle) or not 0 < self.cap_angle <= 180:
                raise LessdataError(
                    f"cap_angle must be in (0, 180] degrees, or None for no cap; "
                    f"got {self.cap_angle!r}"
                )
            if self.family not in DENSE_FAMILIES:
                raise LessdataError(
                    f"cap_angle applies to the dense families {DENSE_FAMILIES}, not "
                    f"{self.family!r}: drop cap_angle or change the family"
                )
        return self


def _uniform_sphere(n: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` unit vectors uniform on the sphere in R^dim (float64, generator's device)."""
    g = torch.randn(n, dim, generator=generator, device=generator.device, dtype=torch.float64)
    return g / g.norm(dim=1, keepdim=True).clamp_min(1e-300)


def sample_cap_directions(
    n: int, d: int, angle_deg: float, generator: torch.Generator, *, outside: bool = False
) -> torch.Tensor:
    """Unit vectors uniform on the cap {angle to e1 <= angle_deg} (or on its complement).

    Exact: for a uniform direction u, t = u·e1 satisfies (1 + t) / 2 ~ Beta((d-1)/2,
    (d-1)/2), so t is drawn by the inverse CDF of that Beta truncated to the cap, and the
    rest of u uniformly on the sphere orthogonal to e1. Task vectors are these directions
    times a chi_d radius, so that with ``angle_deg = 180`` they are N(0, I_d).

    Args:
        n: how many directions.
        d: dimension.
        angle_deg: the cap's half-angle in degrees, in (0, 180].
        generator: the source of randomness (its device is the output's device).
        outside: draw from the complement {angle > angle_deg} instead (needs angle < 180).

    Returns:
        (n, d) float32 unit vectors.
    """
    if not _is_int(n) or n < 0 or not _is_int(d) or d < 1:
        raise LessdataError(f"need n >= 0 directions in d >= 1 dimensions, got n={n}, d={d}")
    if not _is_real(angle_deg) or not 0 < angle_deg <= 180:
        raise LessdataError(f"cap angle must be in (0, 180] degrees, got {angle_deg!r}")
    if outside and angle_deg >= 180:
        raise LessdataError(
            "nothing lies outside a 180-degree cap: set cap_angle below 180 for outside-cap"
        )
    device = generator.device
    uniform = torch.rand(n, generator=generator, device=device, dtype=torch.float64)
    if d == 1:  # the "sphere" is {+1, -1}; -1 is at 180 degrees from e1
        if outside:
            t = -torch.ones(n, dtype=torch.float64, device=device)
        elif angle_deg >= 180:
            t = torch.where(uniform < 0.5, -1.0, 1.0).to(torch.float64)
        else:
            t = torch.ones(n, dtype=torch.float64, device=device)
        return t[:, None].float()
    a = (d - 1) / 2
    cos_cap = math.cos(math.radians(angle_deg))
    u = uniform.cpu().numpy()
    if outside:  # s = (1 + t) / 2 in [0, s_cap)
        s_cap = (1 + cos_cap) / 2
        s = special.betaincinv(a, a, u * special.betainc(a, a, s_cap))
        t_np = np.minimum(2 * s - 1, cos_cap)
    else:  # by symmetry, s' = (1 - t) / 2 in [0, s'_cap]: precise for small caps
        s_cap = (1 - cos_cap) / 2
        s = special.betaincinv(a, a, u * special.betainc(a, a, s_cap))
        t_np = np.maximum(1 - 2 * s, cos_cap)
    t = torch.from_numpy(np.clip(t_np, -1.0, 1.0)).to(device)
    rest = _uniform_sphere(n, d - 1, generator)
    out = torch.cat([t[:, None], torch.sqrt(1 - t**2)[:, None] * rest], dim=1)
    return out.float()


def directions_at_angle(
    n: int, d: int, angle_deg: float, generator: torch.Generator
) -> torch.Tensor:
    """``n`` unit vectors at exactly ``angle_deg`` from the first axis, uniform around it.

    u = cos(θ) e1 + sin(θ) v with v uniform on the unit sphere orthogonal to e1 (for d = 1
    only 0 and 180 degrees exist). Returns (n, d) float32 on the generator's device.
    """
    if not _is_real(angle_deg) or not 0 <= angle_deg <= 180:
        raise LessdataError(f"test angle must be in [0, 180] degrees, got {angle_deg!r}")
    theta = math.radians(float(angle_deg))
    if d == 1:
        if angle_deg not in (0, 180):
            raise LessdataError("in d = 1 the only directions are 0 and 180 degrees")
        return torch.full((n, 1), math.cos(theta), device=generator.device)
    rest = _uniform_sphere(n, d - 1, generator)
    first = torch.full((n, 1), math.cos(theta), dtype=torch.float64, device=generator.device)
    return torch.cat([first, math.sin(theta) * rest], dim=1).float()


def cap_angles(w: torch.Tensor) -> torch.Tensor:
    """Angle in degrees between each row of ``w`` (B, d) and the first axis."""
    cos = w[:, 0] / w.norm(dim=1).clamp_min(1e-30)
    return torch.rad2deg(torch.arccos(cos.clamp(-1, 1)))


def _randn(generator: torch.Generator, *shape: int) -> torch.Tensor:
    """Standard normal float32 draws on the generator's device."""
    return torch.randn(*shape, generator=generator, device=generator.device)


def _draw_tasks(
    spec: TaskSpec, count: int, generator: torch.Generator, cap: str
) -> dict[str, torch.Tensor]:
    """Draw ``count`` tasks of ``spec.family``; ``cap`` is "none", "inside" or "outside".

    Linear families give ``{"w": (count, d)}``; relu-net ``{"v": (count, hidden, d),
    "a": (count, hidden)}``; tree ``{"feature": (count, 2^depth - 1), "leaf": (count,
    2^depth)}``.
    """
    d = spec.d
    if spec.family in DENSE_FAMILIES:
        if cap == "none":
            return {"w": _randn(generator, count, d)}
        assert spec.cap_angle is not None
        directions = sample_cap_directions(
            count, d, spec.cap_angle, generator, outside=cap == "outside"
        )
        radius = _randn(generator, count, d).norm(dim=1, keepdim=True)
        return {"w": directions * radius}
    if spec.family == "sparse-linear":
        order = torch.rand(count, d, generator=generator, device=generator.device).argsort(dim=1)
        support = order[:, : spec.sparsity]
        values = _randn(generator, count, spec.sparsity)
        w = torch.zeros(count, d, device=generator.device).scatter(1, support, values)
        return {"w": w}
    if spec.family == "relu-net":
        v = _randn(generator, count, spec.hidden, d)
        a = _randn(generator, count, spec.hidden) * math.sqrt(2 / spec.hidden)
        return {"v": v, "a": a}
    inner = 2**spec.depth - 1
    feature = torch.randint(0, d, (count, inner), generator=generator, device=generator.device)
    leaf = _randn(generator, count, inner + 1)
    return {"feature": feature, "leaf": leaf}


def _evaluate(spec: TaskSpec, params: dict[str, torch.Tensor], xs: torch.Tensor) -> torch.Tensor:
    """Noise-free labels f(xs) (B, n) of each prompt's task."""
    if "w" in params:
        return torch.einsum("bnd,bd->bn", xs, params["w"])
    if spec.family == "relu-net":
        hidden = torch.relu(torch.einsum("bnd,bhd->bnh", xs, params["v"]))
        return torch.einsum("bnh,bh->bn", hidden, params["a"])
    node = torch.zeros(xs.shape[:2], dtype=torch.long, device=xs.device)
    for _ in range(spec.depth):
        coordinate = params["feature"].gather(1, node)
        value = xs.gather(2, coordinate[..., None])[..., 0]
        node = 2 * node + 1 + (value > 0).long()
    return params["leaf"].gather(1, node - (2**spec.depth - 1))


def _random_rotation(d: int, generator: torch.Generator) -> torch.Tensor:
    """A Haar-random orthogonal (d, d) matrix (QR of a Gaussian with the sign fix)."""
    q, r = torch.linalg.qr(_randn(generator, d, d).double())
    signs = torch.where(torch.diagonal(r) < 0, -1.0, 1.0).to(q.dtype)
    return (q * signs).float()


def _check_strength(shift: str, strength: float | None, d: int) -> float | None:
    """Validate ``strength`` for ``shift``; return the effective value (defaults filled in)."""
    if shift == "at-angle":
        value = DEFAULT_STRENGTH[shift] if strength is None else strength
        if not _is_real(value) or not 0 <= value <= 180:
            raise LessdataError(
                f"at-angle strength is a test angle in [0, 180] degrees, got {value!r}"
            )
        return float(value)
    if shift in ("none", "orthants", "outside-cap"):
        if strength is not None:
            raise LessdataError(f"shift {shift!r} takes no strength; leave it unset")
        return None
    if strength is None:
        return float(d // 2) if shift == "subspace" else DEFAULT_STRENGTH[shift]
    if not _is_real(strength):
        raise LessdataError(f"shift strength must be a finite number, got {strength!r}")
    value = float(strength)
    if shift == "subspace" and (value != int(value) or not 1 <= value <= d):
        raise LessdataError(
            f"subspace strength is the subspace dimension, a whole number in 1..{d}; got {value}"
        )
    if shift in ("scaled-inputs", "scaled-weights") and value <= 0:
        raise LessdataError(f"{shift} strength is a scale factor > 0, got {value}")
    if shift in ("noisy-labels", "skewed-covariance") and value < 0:
        raise LessdataError(f"{shift} strength must be >= 0, got {value}")
    return value


def skewed_eigenvalues(d: int, power: float = 2.0) -> torch.Tensor:
    """Eigenvalues λ_i ∝ i^-power (i = 1..d), scaled so that they sum to d."""
    lam = torch.arange(1, d + 1, dtype=torch.float64) ** -power
    return (lam * d / lam.sum()).float()


class TaskSampler:
    """Draws prompt batches for a TaskSpec. Holds the pool (if pool_size) as tensors.

    Attributes:
        spec: the validated spec.
        device: where the batches (and the pool) live.
        pool: (M, d) pool weights for linear families (for
            :func:`~lessdata.labs.icl.baselines.dmmse`), else None.
        pool_params: the pool's task parameters for any family (see ``_draw_tasks``), or None.

    Example:
        >>> sampler = TaskSampler(TaskSpec(pool_size=4))
        >>> xs, ys, info = sampler.sample(8, torch.Generator().manual_seed(0))
        >>> tuple(xs.shape), tuple(ys.shape), int(info["task_index"].max()) < 4
        ((8, 11, 5), (8, 11), True)
    """

    def __init__(self, spec: TaskSpec, device: str | torch.device = "cpu") -> None:
        self.spec = spec.check()
        self.device = torch.device(device)
        self.pool_params: dict[str, torch.Tensor] | None = None
        self.pool: torch.Tensor | None = None
        if spec.pool_size is not None:
            generator = torch.Generator().manual_seed(int(spec.pool_seed))
            cap = "none" if spec.cap_angle is None else "inside"
            params = _draw_tasks(spec, int(spec.pool_size), generator, cap)
            self.pool_params = {k: v.to(self.device) for k, v in params.items()}
            self.pool = self.pool_params.get("w")
        self._pool_on: dict[torch.device, dict[str, torch.Tensor]] = {}
        self._prior: torch.Tensor | None = None

    def training_prior(self) -> torch.Tensor | None:
        """Weight vectors (M, d) standing for the training task distribution, or None.

        The pool when there is one; for a capped spec without a pool, a fixed sample of
        :data:`PRIOR_SAMPLES` tasks from the cap (so that dMMSE over it is the Bayes
        prediction restricted to the cap, up to Monte Carlo error); None otherwise (the
        uncapped Gaussian prior, whose Bayes prediction is ridge).
        """
        if self.pool is not None:
            return self.pool
        if self.spec.cap_angle is None or self.spec.family not in DENSE_FAMILIES:
            return None
        if self._prior is None:
            generator = torch.Generator().manual_seed(PRIOR_SEED)
            tasks = _draw_tasks(self.spec, PRIOR_SAMPLES, generator, "inside")["w"]
            self._prior = tasks.to(self.device)
        return self._prior

    def _pool_for(self, device: torch.device) -> dict[str, torch.Tensor]:
        """The pool's parameters on ``device`` (cached)."""
        assert self.pool_params is not None
        key = torch.device(device)
        if key not in self._pool_on:
            self._pool_on[key] = {k: v.to(key) for k, v in self.pool_params.items()}
        return self._pool_on[key]

    def _tasks(
        self,
        batch: int,
        generator: torch.Generator,
        source: str,
        shift: str,
        strength: float | None = None,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Each prompt's task parameters and pool index (-1 when not from the pool)."""
        spec = self.spec
        device = generator.device
        fresh_index = torch.full((batch,), -1, dtype=torch.long, device=device)
        if shift == "at-angle":
            if spec.family not in DENSE_FAMILIES:
                raise LessdataError(
                    f"the at-angle shift needs a dense linear family {DENSE_FAMILIES}, "
                    f"not {spec.family!r}"
                )
            assert strength is not None
            directions = directions_at_angle(batch, spec.d, strength, generator)
            radius = _randn(generator, batch, spec.d).norm(dim=1, keepdim=True)
            return {"w": directions * radius}, fresh_index
        if shift == "outside-cap":
            if spec.family not in DENSE_FAMILIES or spec.cap_angle is None:
                raise LessdataError(
                    "the outside-cap shift needs a linear or noisy-linear TaskSpec with "
                    "cap_angle set (tasks are drawn beyond the training cap)"
                )
            return _draw_tasks(spec, batch, generator, "outside"), fresh_index
        if source == "fresh":
            return _draw_tasks(spec, batch, generator, "none"), fresh_index
        if self.pool_params is None:
            cap = "none" if spec.cap_angle is None else "inside"
            return _draw_tasks(spec, batch, generator, cap), fresh_index
        index = torch.randint(0, int(spec.pool_size), (batch,), generator=generator, device=device)
        pool = self._pool_for(device)
        return {k: v[index] for k, v in pool.items()}, index

    def _inputs(
        self, batch: int, n: int, generator: torch.Generator, shift: str, strength: float | None
    ) -> torch.Tensor:
        """Draw xs (B, n, d) under ``shift``."""
        d = self.spec.d
        z = _randn(generator, batch, n, d)
        if shift == "skewed-covariance":
            assert strength is not None
            rotation = _random_rotation(d, generator).to(z.device)
            scale = skewed_eigenvalues(d, strength).sqrt().to(z.device)
            return (z * scale) @ rotation.T
        if shift == "subspace":
            assert strength is not None
            rank = int(strength)
            basis = _random_rotation(d, generator).to(z.device)[:, :rank]
            return (z[..., :rank] @ basis.T) * math.sqrt(d / rank)
        if shift == "scaled-inputs":
            assert strength is not None
            return z * strength
        if shift == "orthants":
            signs = torch.where(
                torch.rand(batch, 1, d, generator=generator, device=z.device) < 0.5, -1.0, 1.0
            )
            pattern = signs.expand(batch, n, d).clone()
            pattern[:, -1] = -pattern[:, -1]
            return z.abs() * pattern
        return z

    def sample(
        self,
        batch: int,
        generator: torch.Generator,
        *,
        source: str = "train",
        shift: str = "none",
        strength: float | None = None,
        n_points: int | None = None,
        d_active: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Draw ``batch`` prompts.

        Args:
            batch: number of prompts B.
            generator: the source of every random draw (on any device).
            source: ``train`` / ``pool``: tasks from the pool (fresh within the cap when there
                is no pool); ``fresh``: new tasks from the full prior, ignoring pool and cap.
            shift: one of :data:`SHIFTS` (see the module docstring). ``outside-cap`` and
                ``at-angle`` replace the task source.
            strength: the shift's strength (None = its default, see the module docstring).
            n_points: points per prompt (default ``spec.n_points``).
            d_active: curriculum (Garg): only the first ``d_active`` input coordinates are
                nonzero.

        Returns:
            ``xs`` (B, n, d), ``ys`` (B, n) float32 on the sampler's device, and ``info``:
            ``w`` (B, d) task weights (after a weight scaling) or None for non-linear
            families; ``task_index`` (B,) pool index or -1; ``ys_clean`` (B, n) labels
            without any noise; ``ys_unshifted`` (B, n) labels with the family's own noise
            but without a ``noisy-labels`` shift's (equal to ``ys`` otherwise); ``shift``;
            ``strength`` (the value used); ``final_only`` (True when only the final
            position is a valid evaluation point).
        """
        spec = self.spec
        if not _is_int(batch) or batch < 1:
            raise LessdataError(f"batch must be a whole number >= 1, got {batch!r}")
        if not isinstance(generator, torch.Generator):
            raise LessdataError("pass a torch.Generator, e.g. torch.Generator().manual_seed(0)")
        if source not in SOURCES:
            raise LessdataError(f"source must be one of {SOURCES}, got {source!r}")
        if shift not in SHIFTS:
            raise LessdataError(f"shift must be one of {SHIFTS}, got {shift!r}")
        n = spec.n_points if n_points is None else n_points
        if not _is_int(n) or n < 1:
            raise LessdataError(f"n_points must be a whole number >= 1, got {n!r}")
        if d_active is not None and (not _is_int(d_active) or not 1 <= d_active <= spec.d):
            raise LessdataError(f"d_active must be a whole number in 1..{spec.d}, got {d_active!r}")
        if shift == "subspace" and spec.d < 2:
            raise LessdataError("the subspace shift needs d >= 2")
        if shift == "scaled-weights" and not spec.is_linear:
            raise LessdataError(
                f"scaled-weights needs a linear family {LINEAR_FAMILIES}, not {spec.family!r}"
            )
        value = _check_strength(shift, strength, spec.d)

        params, index = self._tasks(int(batch), generator, source, shift, value)
        if shift == "scaled-weights":
            params = {"w": params["w"] * value}
        xs = self._inputs(int(batch), int(n), generator, shift, value)
        if d_active is not None and d_active < spec.d:
            xs[..., d_active:] = 0
        clean = _evaluate(spec, params, xs)
        ys = clean
        if spec.label_noise > 0:
            ys = ys + spec.label_noise * _randn(generator, *clean.shape)
        unshifted = ys
        if shift == "noisy-labels" and value:
            ys = ys + value * _randn(generator, *clean.shape)
        w = params.get("w")
        info = {
            "w": None if w is None else w.to(self.device),
            "task_index": index.to(self.device),
            "ys_clean": clean.to(self.device),
            "ys_unshifted": unshifted.to(self.device),
            "shift": shift,
            "strength": value,
            "final_only": shift == "orthants",
        }
        return xs.to(self.device), ys.to(self.device), info
