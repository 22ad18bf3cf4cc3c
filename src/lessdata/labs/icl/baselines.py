"""Baselines for in-context regression: what an ideal or a simple learner does with k examples.

Why this exists: a transformer's error at k in-context examples means little alone. These
learners see exactly what it sees (examples 0..k-1 and the query ``xs[:, k]``) and tell us
which algorithm it behaves like: the Bayes-optimal estimator for its pretraining prior
(ridge for w ~ N(0, I); dMMSE for a finite pool of M tasks, Raventós et al. 2023), least
squares, nearest neighbours, averaging and one gradient step (Garg et al. 2022), or a small
network trained from scratch by gradient descent on the prompt ("type 1" learning).

Every function takes ``xs`` (B, n, d) and ``ys`` (B, n) and returns predictions (B, n): at
position k the prediction for ``xs[:, k]`` from the first k examples only (k = 0 predicts 0,
the prior mean). All are vectorised over prompts; loops run over positions or GD steps.
Linear solves run in float64 (least squares near k = d is ill-conditioned) and the results
come back in the input's dtype, on the input's device.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from lessdata.errors import LessdataError

#: dMMSE with noise = 0 uses this std instead: the posterior then keeps only the pool tasks
#: that fit the examples (up to float error), and stays well defined
NOISE_FLOOR = 1e-3
#: dMMSE processes the pool in chunks so that B·n·chunk stays below this many elements
DMMSE_CHUNK_ELEMENTS = 1 << 24


def _check_prompts(xs: torch.Tensor, ys: torch.Tensor) -> tuple[int, int, int]:
    """Validate a prompt batch; return (B, n, d)."""
    if not isinstance(xs, torch.Tensor) or not isinstance(ys, torch.Tensor):
        raise LessdataError("xs and ys must be torch tensors of shapes (B, n, d) and (B, n)")
    if xs.ndim != 3 or ys.ndim != 2 or xs.shape[:2] != ys.shape:
        raise LessdataError(
            f"xs must be (B, n, d) and ys (B, n) with the same B and n; "
            f"got {tuple(xs.shape)} and {tuple(ys.shape)}"
        )
    return xs.shape[0], xs.shape[1], xs.shape[2]


def _exclusive_cumsum(values: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Sum of the entries strictly before each position along ``dim`` (exactly 0 at 0)."""
    total = values.cumsum(dim)
    zero = torch.zeros_like(values.narrow(dim, 0, 1))
    return torch.cat([zero, total.narrow(dim, 0, values.shape[dim] - 1)], dim)


def least_squares(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Minimum-norm least squares on the first k examples, for every k.

    For k < d the examples do not pin w down and the minimum-norm solution predicts the
    query's projection on their span (error ≈ (d - k)/d on noiseless Gaussian prompts);
    for k >= d it interpolates noiseless data exactly.
    """
    _, n, _ = _check_prompts(xs, ys)
    x64, y64 = xs.double(), ys.double()
    preds = torch.zeros_like(y64)
    for k in range(1, n):
        w = torch.linalg.pinv(x64[:, :k]) @ y64[:, :k, None]
        preds[:, k] = (x64[:, k] * w[..., 0]).sum(-1)
    return preds.to(ys.dtype)


def ridge(xs: torch.Tensor, ys: torch.Tensor, lam: float) -> torch.Tensor:
    """Ridge regression w = (XᵀX + lam I)⁻¹ Xᵀy on the first k examples, for every k.

    With w ~ N(0, I_d) and label noise variance ``lam`` this is the posterior mean: the
    Bayes-optimal prediction for an infinite task pool. ``lam = 0`` is least squares.
    """
    _, n, d = _check_prompts(xs, ys)
    if not isinstance(lam, (int, float)) or not math.isfinite(lam) or lam < 0:
        raise LessdataError(f"ridge lam must be a finite number >= 0 (noise variance), got {lam!r}")
    if lam == 0:
        return least_squares(xs, ys)
    x64, y64 = xs.double(), ys.double()
    eye = lam * torch.eye(d, dtype=torch.float64, device=xs.device)
    preds = torch.zeros_like(y64)
    for k in range(1, n):
        x = x64[:, :k]
        gram = x.transpose(1, 2) @ x + eye
        w = torch.linalg.solve(gram, x.transpose(1, 2) @ y64[:, :k, None])
        preds[:, k] = (x64[:, k] * w[..., 0]).sum(-1)
    return preds.to(ys.dtype)


def dmmse(xs: torch.Tensor, ys: torch.Tensor, pool: torch.Tensor, noise: float) -> torch.Tensor:
    """Bayes-optimal prediction when tasks come uniformly from a finite pool (Raventós dMMSE).

    The posterior over the M pool vectors after k examples is
    p_m ∝ exp(-Σ_{i<k} (y_i - w_m·x_i)² / (2 noise²)), computed with a streaming log-sum-exp
    over chunks of the pool (memory B·n·chunk); the prediction is Σ_m p_m (w_m·x_query).
    At k = 0 it is the pool mean's prediction. ``noise = 0`` uses :data:`NOISE_FLOOR`.

    Args:
        pool: (M, d) task weights (``TaskSampler.pool``).
        noise: the label noise std the prompts carry.
    """
    batch, n, d = _check_prompts(xs, ys)
    if not isinstance(pool, torch.Tensor) or pool.ndim != 2 or pool.shape[1] != d:
        shape = tuple(pool.shape) if isinstance(pool, torch.Tensor) else type(pool).__name__
        raise LessdataError(f"dmmse pool must be an (M, d={d}) tensor of task weights, got {shape}")
    if pool.shape[0] < 1:
        raise LessdataError("dmmse pool is empty: give at least one task vector")
    if not isinstance(noise, (int, float)) or not math.isfinite(noise) or noise < 0:
        raise LessdataError(f"dmmse noise must be a finite std >= 0, got {noise!r}")
    sigma = max(float(noise), NOISE_FLOOR)
    pool = pool.to(device=xs.device, dtype=xs.dtype)
    chunk = max(1, DMMSE_CHUNK_ELEMENTS // max(1, batch * n))
    top = torch.full((batch, n), -math.inf, dtype=xs.dtype, device=xs.device)
    numerator = torch.zeros(batch, n, dtype=xs.dtype, device=xs.device)
    denominator = torch.zeros_like(numerator)
    for start in range(0, pool.shape[0], chunk):
        part = pool[start : start + chunk]
        fits = xs @ part.T  # (B, n, c): each pool task's prediction at every position
        log_w = -_exclusive_cumsum((ys[..., None] - fits) ** 2) / (2 * sigma**2)
        new_top = torch.maximum(top, log_w.amax(-1))
        rescale = torch.exp(top - new_top)
        weights = torch.exp(log_w - new_top[..., None])
        numerator = numerator * rescale + (weights * fits).sum(-1)
        denominator = denominator * rescale + weights.sum(-1)
        top = new_top
    return numerator / denominator


def knn(xs: torch.Tensor, ys: torch.Tensor, k_neighbours: int = 3) -> torch.Tensor:
    """Mean label of the ``k_neighbours`` nearest in-context inputs (fewer while k is small).

    Garg et al. use 3 neighbours with uniform weights.
    """
    _, n, _ = _check_prompts(xs, ys)
    if isinstance(k_neighbours, bool) or not isinstance(k_neighbours, int) or k_neighbours < 1:
        raise LessdataError(f"k_neighbours must be a whole number >= 1, got {k_neighbours!r}")
    distance = torch.cdist(xs, xs)
    later = torch.ones(n, n, dtype=torch.bool, device=xs.device).triu()  # j >= i: not context
    distance = distance.masked_fill(later, math.inf)
    nearest, index = distance.topk(min(k_neighbours, n), dim=-1, largest=False)
    valid = torch.isfinite(nearest)
    labels = ys[:, None, :].expand(-1, n, -1).gather(2, index)
    total = (labels * valid).sum(-1)
    return total / valid.sum(-1).clamp_min(1)


def averaging(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Garg's "averaging": w_hat = mean_{i<k}(y_i x_i), predict w_hat·x_query.

    Unbiased for w when x ~ N(0, I) (E[y x] = w), but noisy: error ≈ (d + 1)/k at large k.
    """
    _, n, _ = _check_prompts(xs, ys)
    sums = _exclusive_cumsum(xs * ys[..., None])
    count = torch.arange(n, device=xs.device, dtype=xs.dtype).clamp_min(1)
    return (sums * xs).sum(-1) / count


def one_step_gd(xs: torch.Tensor, ys: torch.Tensor, lr: float | None = None) -> torch.Tensor:
    """One gradient step from w = 0 on the loss (1/2k) Σ_{i<k} (y_i - w·x_i)².

    The step gives w = lr · Xᵀy / k. With ``lr = 1`` this is :func:`averaging`, so the
    default (``lr=None``) is the step size with the lowest expected error for x ~ N(0, I_d),
    w ~ N(0, I_d): lr_k = k / (k + d + 1) (from E[(XᵀX/k)²] = (1 + (d + 1)/k) I). That is
    the best a single GD step can do; von Oswald et al. 2023 show a linear self-attention
    layer implements one such step with a learned rate. Pass a float for a fixed rate.
    """
    _, n, d = _check_prompts(xs, ys)
    if lr is not None and (not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0):
        raise LessdataError(f"one_step_gd lr must be a finite number > 0 or None, got {lr!r}")
    k = torch.arange(n, device=xs.device, dtype=xs.dtype)
    rate = k / (k + d + 1) if lr is None else torch.full_like(k, float(lr))
    return averaging(xs, ys) * rate


def _mlp_forward(
    x: torch.Tensor, params: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of 2-layer ReLU MLPs in the NTK parametrisation: (N, m, d) -> (N, m, 1).

    f(x) = relu(x W1 / sqrt(d) + b1) W2 / sqrt(hidden) + b2 with N(0, 1) weights; the
    scalings keep the loss curvature O(1) whatever d and hidden are, so one learning rate
    (0.1) is stable. Also returns the pre-activations, for the backward pass.
    """
    d, hidden = params["w1"].shape[1:]
    pre = torch.baddbmm(params["b1"], x, params["w1"], alpha=1 / math.sqrt(d))
    out = torch.baddbmm(params["b2"], torch.relu(pre), params["w2"], alpha=1 / math.sqrt(hidden))
    return out, pre


def gd_network(
    xs: torch.Tensor,
    ys: torch.Tensor,
    *,
    steps: int = 100,
    lr: float = 0.1,
    hidden: int = 32,
    seed: int = 0,
) -> torch.Tensor:
    """ "Type 1" learning: a 2-layer ReLU MLP trained from scratch by GD on each prompt.

    For every prompt b and position k >= 1 one network (its own N(0, 1) weights in the NTK
    parametrisation, from a CPU generator seeded by ``seed``) takes ``steps`` full-batch GD
    steps on the mean squared error of the k examples, then predicts ``xs[b, k]``. All
    B·(n-1) networks train at once with batched weights (``torch.bmm``) and hand-written
    gradients, so it works under ``torch.no_grad`` and costs O(steps · B · n² · hidden).
    k = 0 predicts 0.
    """
    batch, n, d = _check_prompts(xs, ys)
    for name, value, low in (("steps", steps, 0), ("hidden", hidden, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise LessdataError(f"gd_network {name} must be a whole number >= {low}, got {value!r}")
    if not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise LessdataError(f"gd_network lr must be a finite number > 0, got {lr!r}")
    preds = torch.zeros_like(ys)
    if n < 2:
        return preds
    m = n - 1  # networks for k = 1..n-1, each sees the first m points with a mask
    nets = batch * m
    x = xs[:, None, :m].expand(batch, m, m, d).reshape(nets, m, d)
    y = ys[:, None, :m].expand(batch, m, m).reshape(nets, m, 1)
    k = torch.arange(1, n, device=xs.device)
    mask = (torch.arange(m, device=xs.device)[None, :] < k[:, None]).to(xs.dtype)
    weight = (mask / k[:, None].to(xs.dtype)).repeat(batch, 1)[..., None]  # (N, m, 1)
    query = xs[:, 1:].reshape(nets, 1, d)

    generator = torch.Generator().manual_seed(int(seed))
    params = {
        "w1": torch.randn(nets, d, hidden, generator=generator),
        "b1": torch.zeros(nets, 1, hidden),
        "w2": torch.randn(nets, hidden, 1, generator=generator),
        "b2": torch.zeros(nets, 1, 1),
    }
    params = {name: p.to(device=xs.device, dtype=xs.dtype) for name, p in params.items()}
    scale_in, scale_out = 1 / math.sqrt(d), 1 / math.sqrt(hidden)
    for _ in range(steps):
        out, pre = _mlp_forward(x, params)
        grad_out = 2 * (out - y) * weight  # d(loss)/d(out), loss = Σ_i weight_i (out_i - y_i)²
        grad_pre = (grad_out @ params["w2"].transpose(1, 2)) * (pre > 0) * scale_out
        grads = {
            "w2": torch.relu(pre).transpose(1, 2) @ grad_out * scale_out,
            "b2": grad_out.sum(1, keepdim=True),
            "w1": x.transpose(1, 2) @ grad_pre * scale_in,
            "b1": grad_pre.sum(1, keepdim=True),
        }
        params = {name: p - lr * grads[name] for name, p in params.items()}
    out, _ = _mlp_forward(query, params)
    preds[:, 1:] = out.reshape(batch, m)
    return preds


def gd_steps_to_match(
    xs: torch.Tensor,
    ys: torch.Tensor,
    target_error: float,
    *,
    max_steps: int = 1000,
    lr: float = 0.1,
) -> int | None:
    """GD steps a linear model needs, from w = 0 on the prompt's k = n-1 examples, to match.

    Each prompt's w follows w ← w - lr · Xᵀ(Xw - y)/k on its first n-1 examples (one step
    with lr = 1 is :func:`averaging`); after each step the batch's mean error/d at the final
    query is compared with ``target_error`` (e.g. the transformer's error at k = n-1).

    Returns:
        The first step count (0 = already at w = 0) whose error/d is <= ``target_error``,
        or None if ``max_steps`` steps do not get there.
    """
    batch, n, d = _check_prompts(xs, ys)
    if n < 2:
        raise LessdataError("gd_steps_to_match needs prompts of at least 2 points")
    if not isinstance(target_error, (int, float)) or not math.isfinite(target_error):
        raise LessdataError(f"target_error must be a finite number, got {target_error!r}")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 0:
        raise LessdataError(f"max_steps must be a whole number >= 0, got {max_steps!r}")
    if not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise LessdataError(f"gd_steps_to_match lr must be a finite number > 0, got {lr!r}")
    x, y = xs[:, :-1].double(), ys[:, :-1].double()
    query, target = xs[:, -1].double(), ys[:, -1].double()
    k = n - 1
    gram = x.transpose(1, 2) @ x / k
    moment = (x.transpose(1, 2) @ y[..., None])[..., 0] / k
    w = torch.zeros(batch, d, dtype=torch.float64, device=xs.device)
    for step in range(max_steps + 1):
        error = float((((query * w).sum(-1) - target) ** 2).mean()) / d
        if error <= target_error:
            return step
        w = w - lr * ((gram @ w[..., None])[..., 0] - moment)
    return None


BASELINES: dict[str, Callable[..., torch.Tensor]] = {
    "least-squares": least_squares,
    "ridge": ridge,
    "dmmse": dmmse,
    "knn": knn,
    "averaging": averaging,
    "one-step-gd": one_step_gd,
    "gd-network": gd_network,
}
