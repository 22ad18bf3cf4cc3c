"""lessdata inside a PyTorch training loop (needs the ``train`` extra: PyTorch).

* :class:`PrunedSampler`: train on the rows a ``prune`` run kept, without copying the data.
* :class:`DynamicPruningSampler`: InfoBatch's dynamic pruning during training.
* :class:`LossRecorder`: per-example losses and logits of *your* model, epoch by epoch, for
  the training-dynamics metrics (``lessdata.score(..., dynamics=recorder)``).
"""

from lessdata.extras import require

require("torch", "lessdata.torch (samplers and the loss recorder)")

from lessdata.torch.recorder import LossRecorder  # noqa: E402
from lessdata.torch.samplers import DynamicPruningSampler, PrunedSampler, kept_rows  # noqa: E402

__all__ = ["DynamicPruningSampler", "LossRecorder", "PrunedSampler", "kept_rows"]
