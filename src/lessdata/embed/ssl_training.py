"""The SimCLR training behind :func:`lessdata.embed.ssl`: encoders, augmentations, NT-Xent.

Kept apart from :mod:`lessdata.embed.contrastive` because it imports PyTorch, which the
core of lessdata does not need. Everything here is seeded by one ``torch.Generator`` whose
state is checkpointed with the weights, so a resumed run continues the same random stream
and ends with the same encoder as an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lessdata.data.atomic import atomic_path
from lessdata.embed.ssl_options import SSLOptions
from lessdata.progress import log, track

_FORMAT = "lessdata-ssl-checkpoint-v1"
_EVERY = 200  # steps between checkpoints


# --- encoders -------------------------------------------------------------------------------


class Encoder(nn.Module):
    """A backbone (the embedding) and a projection head (only for the loss), as in SimCLR."""

    def __init__(self, backbone: nn.Module, features: int, dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.embed = nn.Linear(features, dim)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.backbone(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(x))


class _AvgMaxPool(nn.Module):
    """Global average and max pooling over the last axes, concatenated."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(2)
        return torch.cat([flat.mean(dim=2), flat.amax(dim=2)], dim=1)


def build_encoder(kind: str, shape: tuple[int, ...], options: SSLOptions) -> Encoder:
    """The encoder for an input of ``kind`` and per-example ``shape``."""
    w = options.width
    if kind == "signal":
        backbone = nn.Sequential(
            nn.Unflatten(1, (1, shape[0])),
            nn.Conv1d(1, w, 5, padding=2), nn.BatchNorm1d(w), nn.ReLU(),
            nn.Conv1d(w, w, 5, padding=2, stride=2), nn.BatchNorm1d(w), nn.ReLU(),
            nn.Conv1d(w, w, 3, padding=1, stride=2), nn.BatchNorm1d(w), nn.ReLU(),
            _AvgMaxPool(),
        )  # fmt: skip
        return Encoder(backbone, 2 * w, options.dim)
    if kind == "vectors":
        hidden = 4 * w
        backbone = nn.Sequential(
            nn.Linear(shape[0], hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
        )  # fmt: skip
        return Encoder(backbone, hidden, options.dim)
    channels = shape[0]
    backbone = nn.Sequential(
        nn.Conv2d(channels, w // 2, 3, padding=1), nn.BatchNorm2d(w // 2), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(w // 2, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(w, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
        _AvgMaxPool(),
    )  # fmt: skip
    return Encoder(backbone, 2 * w, options.dim)


# --- augmentations ----------------------------------------------------------------------------


def _uniform(n: int, low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen)


def augment_signal(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Crop 70–100% and stretch back (shift, time scale), scale, add noise, mask a window."""
    n, length = x.shape
    scale = _uniform(n, 0.7, 1.0, gen)
    shift = (1 - scale) * (2 * torch.rand(n, generator=gen) - 1)
    u = torch.linspace(-1, 1, length)
    grid_x = scale[:, None] * u[None, :] + shift[:, None]
    grid = torch.stack([grid_x, torch.zeros_like(grid_x)], dim=-1)[:, None]  # (n, 1, L, 2)
    out = F.grid_sample(x[:, None, None, :], grid, align_corners=True, padding_mode="border")
    out = out[:, 0, 0] * _uniform(n, 0.8, 1.2, gen)[:, None]
    out = out + 0.1 * torch.randn(out.shape, generator=gen)
    width = max(1, length // 10)
    starts = torch.randint(0, length - width + 1, (n,), generator=gen)
    masked = torch.rand(n, generator=gen) < 0.5
    positions = torch.arange(length)[None, :]
    window = (positions >= starts[:, None]) & (positions < starts[:, None] + width)
    return out.masked_fill(window & masked[:, None], 0.0)


def augment_vectors(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Noise, 20% feature dropout and scaling (the dimensions have no order to exploit)."""
    n = x.shape[0]
    keep = (torch.rand(x.shape, generator=gen) > 0.2).float()
    out = x * keep * _uniform(n, 0.8, 1.2, gen)[:, None]
    return out + 0.1 * torch.randn(x.shape, generator=gen)


def augment_image(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random resized crop (60–100% of the side), horizontal flip, colour jitter, noise."""
    n, c = x.shape[:2]
    side = _uniform(n, 0.6, 1.0, gen)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    tx = (1 - side) * (2 * torch.rand(n, generator=gen) - 1)
    ty = (1 - side) * (2 * torch.rand(n, generator=gen) - 1)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = side * flip, side
    theta[:, 0, 2], theta[:, 1, 2] = tx, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, align_corners=False, padding_mode="reflection")
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    contrast = _uniform(n, 0.7, 1.3, gen).view(n, 1, 1, 1)
    brightness = _uniform(n, -0.3, 0.3, gen).view(n, 1, 1, 1)
    out = (out - mean) * contrast + mean + brightness
    if c > 1:
        out = out * _uniform(n * c, 0.85, 1.15, gen).view(n, c, 1, 1)
    return out + 0.05 * torch.randn(out.shape, generator=gen)


AUGMENT = {"signal": augment_signal, "vectors": augment_vectors, "image": augment_image}


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's loss: each view must pick its partner among the other ``2B - 1`` views."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    n = z1.shape[0]
    sim.fill_diagonal_(-math.inf)
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, targets)


# --- training ---------------------------------------------------------------------------------


def standardise(arr: np.ndarray, kind: str) -> np.ndarray:
    """Zero mean, unit variance: per feature for vectors, over all values otherwise."""
    if kind == "vectors":
        mean, std = arr.mean(axis=0), arr.std(axis=0)
    else:
        mean, std = arr.mean(), arr.std()
    return ((arr - mean) / np.maximum(std, 1e-6)).astype(np.float32)


def train_encoder(
    arr: np.ndarray, kind: str, options: SSLOptions, seed: int, checkpoint: Path
) -> Encoder:
    """Train an encoder on ``arr`` (standardised) for ``options.steps`` steps; resume from
    ``checkpoint``, which is removed when training ends."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build_encoder(kind, arr.shape[1:], options)
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=1e-4)
    settings = {**asdict(options), "kind": kind, "seed": seed, "shape": list(arr.shape)}
    start = _resume(checkpoint, model, optimizer, gen, settings)
    data = torch.from_numpy(arr)
    augment = AUGMENT[kind]
    batch = min(options.batch_size, len(arr))
    model.train()
    tick, losses = time.perf_counter(), []
    steps = range(start, options.steps)
    for step in track(steps, len(steps), f"SSL training ({kind}, {len(arr):,} examples)"):
        rows = torch.randint(0, len(arr), (batch,), generator=gen)
        x = data[rows]
        loss = nt_xent(model(augment(x, gen)), model(augment(x, gen)), options.temperature)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if (step + 1) % _EVERY == 0 and step + 1 < options.steps:
            _save(checkpoint, model, optimizer, gen, settings, step + 1)
    if losses:
        log(
            f"SSL training: {len(losses)} steps in {time.perf_counter() - tick:.1f} s, "
            f"loss {losses[0]:.3f} → {np.mean(losses[-20:]):.3f}"
        )
    checkpoint.unlink(missing_ok=True)
    return model


def embed_with(model: Encoder, data: np.ndarray) -> np.ndarray:
    """The encoder's output (not the projection head's) for every row of the standardised
    ``data``, L2-normalised."""
    model.eval()
    with torch.no_grad():
        parts = [
            model.encode(torch.from_numpy(data[i : i + 1024])).numpy()
            for i in range(0, len(data), 1024)
        ]
    emb = np.concatenate(parts).astype(np.float32)
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)


def _save(
    path: Path, model: Encoder, optimizer: Any, gen: torch.Generator, settings: dict, step: int
) -> None:
    state = {
        "format": _FORMAT, "settings": settings, "step": step, "model": model.state_dict(),
        "optimizer": optimizer.state_dict(), "generator": gen.get_state(),
        "torch_rng": torch.get_rng_state(),
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _resume(
    path: Path, model: Encoder, optimizer: Any, gen: torch.Generator, settings: dict
) -> int:
    """Load a checkpoint of the same run into the objects; the step to start from."""
    if not path.is_file():
        return 0
    try:
        state = torch.load(path, weights_only=True)
        if state.get("format") != _FORMAT or state.get("settings") != settings:
            raise ValueError("written by another run")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
    except Exception as exc:  # a damaged or foreign file: start again, and say so
        log(f"SSL checkpoint {path} is unusable ({str(exc)[:100]}); training from the start")
        return 0
    log(f"SSL training: resuming from step {state['step']} ({path})")
    return int(state["step"])
