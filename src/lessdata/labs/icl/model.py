"""The in-context learner: a small GPT-style transformer over (x, y) prompts (Garg et al. 2022).

A prompt ``(x_1, y_1, ..., x_n, y_n)`` becomes ``2n`` tokens of dimension ``d`` (Garg et al.,
arXiv 2208.01066): an x token is ``x_i`` itself, a y token is ``(y_i, 0, ..., 0)``. A linear
read-in maps each token to ``width``; learned position embeddings are added; pre-LayerNorm
blocks of causal self-attention (``scaled_dot_product_attention`` with ``is_causal=True``)
and a GELU MLP follow; a final LayerNorm and a linear read-out to one number are taken at the
**x tokens only**. So the output at x_i sees ``x_1, y_1, ..., x_{i-1}, y_{i-1}, x_i`` (k = i - 1
in-context examples, counting from 1) and predicts ``y_i``; it never sees ``y_i`` or anything
later.

The model is nanoGPT-small and direct: no dropout, GPT-2 initialisation (N(0, 0.02), residual
projections scaled by ``1/sqrt(2 n_layer)``) drawn from a seeded ``torch.Generator``, so
building the same shape with the same seed gives the same weights without touching the global
random state.

>>> import torch
>>> model = ICLTransformer(5, 11, seed=0)
>>> model(torch.zeros(2, 11, 5), torch.zeros(2, 11)).shape
torch.Size([2, 11])
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lessdata.errors import LessdataError
from lessdata.train.gpt_block import CausalBlock

__all__ = ["ICLTransformer", "interleave"]

#: standard deviation of the GPT-2 weight initialisation
INIT_STD = 0.02


def interleave(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """The token sequence (B, 2n, d) of a prompt batch: x_1, (y_1, 0...), x_2, (y_2, 0...), ...

    ``xs`` is (B, n, d) and ``ys`` (B, n); a y token carries ``y_i`` in its first coordinate
    and zeros elsewhere, so x and y tokens share one read-in (Garg et al.'s scheme).
    """
    b, n, d = xs.shape
    y_tokens = torch.zeros_like(xs)
    y_tokens[:, :, 0] = ys
    return torch.stack((xs, y_tokens), dim=2).reshape(b, 2 * n, d)


class ICLTransformer(nn.Module):
    """A GPT-style transformer that predicts ``y_i`` from the examples before it and ``x_i``.

    Args:
        d: input dimension (x tokens have ``d`` coordinates; a curriculum zero-pads its
            smaller tasks to ``d``, so ``d`` is fixed for the model's life).
        n_points: the most (x, y) pairs in a prompt (``2 n_points`` position embeddings);
            shorter prompts are fine.
        n_layer: transformer blocks.
        n_head: attention heads; must divide ``width``.
        width: the embedding (residual stream) width.
        seed: seeds the initial weights (a private ``torch.Generator``).

    ``forward(xs, ys)`` returns predictions (B, n): entry i uses examples 0..i-1 and the
    query ``xs[:, i]``.
    """

    def __init__(
        self,
        d: int,
        n_points: int,
        *,
        n_layer: int = 3,
        n_head: int = 2,
        width: int = 64,
        seed: int = 0,
    ) -> None:
        super().__init__()
        for name, value in (
            ("d", d),
            ("n_points", n_points),
            ("n_layer", n_layer),
            ("n_head", n_head),
            ("width", width),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LessdataError(f"{name} must be a positive whole number, got {value!r}")
        if width % n_head:
            raise LessdataError(
                f"n_head ({n_head}) must divide width ({width}); pick e.g. width = 32 × n_head"
            )
        self.d, self.n_points = d, n_points
        self.n_layer, self.n_head, self.width = n_layer, n_head, width
        self.read_in = nn.Linear(d, width)
        self.pos_emb = nn.Embedding(2 * n_points, width)
        self.blocks = nn.ModuleList(CausalBlock(width, n_head, bias=True) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(width)
        self.read_out = nn.Linear(width, 1)
        self._init_weights(seed)

    def _init_weights(self, seed: int) -> None:
        """GPT-2 initialisation from a seeded generator; biases 0, LayerNorms identity."""
        generator = torch.Generator().manual_seed(int(seed))
        residual_std = INIT_STD / math.sqrt(2 * self.n_layer)
        residual = {id(w) for b in self.blocks for w in (b.proj.weight, b.fc_out.weight)}
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, (nn.Linear, nn.Embedding)):
                    std = residual_std if id(module.weight) in residual else INIT_STD
                    module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
                    if getattr(module, "bias", None) is not None:
                        module.bias.zero_()

    def config(self) -> dict[str, int]:
        """The constructor's shape arguments (what a checkpoint needs to rebuild the model)."""
        return {
            "d": self.d,
            "n_points": self.n_points,
            "n_layer": self.n_layer,
            "n_head": self.n_head,
            "width": self.width,
        }

    def n_params(self) -> int:
        """Number of parameters."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        """Predictions (B, n) of ``ys`` at every x position, each from the tokens before it."""
        self._check_batch(xs, ys)
        tokens = interleave(xs, ys)
        t = tokens.shape[1]
        h = self.read_in(tokens) + self.pos_emb(torch.arange(t, device=tokens.device))
        for block in self.blocks:
            h = block(h)
        return self.read_out(self.ln_f(h[:, 0::2])).squeeze(-1)

    def _check_batch(self, xs: torch.Tensor, ys: torch.Tensor) -> None:
        """Raise :class:`LessdataError` unless xs is (B, n, d) and ys (B, n), n <= n_points."""
        if xs.dim() != 3 or xs.shape[2] != self.d:
            raise LessdataError(
                f"xs must have shape (batch, n, {self.d}) for this model, got {tuple(xs.shape)}; "
                "zero-pad smaller inputs to the model's d"
            )
        if ys.shape != xs.shape[:2]:
            raise LessdataError(
                f"ys must have shape (batch, n) = {tuple(xs.shape[:2])}, got {tuple(ys.shape)}"
            )
        if xs.shape[1] > self.n_points:
            raise LessdataError(
                f"prompts of {xs.shape[1]} points exceed the model's n_points = {self.n_points}; "
                "train a model with more points or shorten the prompts"
            )
