"""The one transformer block of lessdata's small GPTs (the tiny code LM and the ICL model).

Pre-LayerNorm, causal multi-head self-attention through
``F.scaled_dot_product_attention(is_causal=True)``, then a GELU MLP of 4× the width; both
residual. ``bias`` switches the linear layers' biases (the tiny LM has none, nanoGPT-style;
the ICL model keeps them, as Garg et al.'s GPT-2 does).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CausalBlock(nn.Module):
    """Pre-LayerNorm transformer block: causal self-attention, then a GELU MLP."""

    def __init__(self, width: int, n_head: int, *, bias: bool = True) -> None:
        super().__init__()
        self.n_head = n_head
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width, bias=bias)
        self.proj = nn.Linear(width, width, bias=bias)
        self.ln2 = nn.LayerNorm(width)
        self.fc = nn.Linear(width, 4 * width, bias=bias)
        self.fc_out = nn.Linear(4 * width, width, bias=bias)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """Causal multi-head self-attention of ``x`` (B, T, width)."""
        b, t, w = x.shape
        q, k, v = self.qkv(x).split(w, dim=2)
        heads = (b, t, self.n_head, w // self.n_head)
        q, k, v = (z.view(heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual attention, then residual MLP."""
        x = x + self.attention(self.ln1(x))
        return x + self.fc_out(F.gelu(self.fc(self.ln2(x))))
