"""The settings of a self-supervised encoder (:func:`lessdata.embed.ssl`), without PyTorch.

Shared by :mod:`lessdata.embed.contrastive` (checks them before any work) and
:mod:`lessdata.embed.ssl_training` (trains with them).
"""

from __future__ import annotations

from dataclasses import dataclass

from lessdata.checks import check_choice, check_float, check_int

KINDS = ("auto", "signal", "vectors", "image")


@dataclass(frozen=True)
class SSLOptions:
    """How the encoder is trained (every field is part of the cache key).

    Attributes:
        kind: ``signal``, ``vectors`` or ``image`` (``auto``: 3-D/4-D arrays are images,
            2-D arrays are vectors; name ``signal`` for 1-D signals).
        dim: size of the embedding.
        steps: optimizer steps (batches are drawn with replacement, so any N works).
        batch_size: examples per batch (each seen in two views).
        lr: AdamW learning rate.
        temperature: the NT-Xent temperature.
        width: channels (CNN) or hidden units (MLP).
    """

    kind: str = "auto"
    dim: int = 64
    steps: int = 1_500
    batch_size: int = 256
    lr: float = 2e-3
    temperature: float = 0.2
    width: int = 64

    def check(self) -> SSLOptions:
        check_choice(self.kind, "kind", KINDS)
        check_int(self.dim, "dim", low=1, high=4096)
        check_int(self.steps, "steps", low=0)
        check_int(self.batch_size, "batch_size", low=2, high=65_536)
        check_float(self.lr, "lr", low=0, high=10, closed="right")
        check_float(self.temperature, "temperature", low=0, high=100, closed="right")
        check_int(self.width, "width", low=1, high=4096)
        return self
