"""lessdata inside a PyTorch training loop (needs the ``train`` extra: PyTorch).

* :class:`PrunedSampler`: train on the rows a ``prune`` run kept, without copying the data.
* :class:`DynamicPruningSampler`: dynamic pruning during training (InfoBatch, SeTa, or random
  skipping), by ratio, by a target saving with every epoch's size planned, or by a plan;
  resumable (``state_dict``), with a ``progress`` to drive any learning-rate schedule.
* :class:`ProgressLR`: step any scheduler by that progress, so it ends on its final value.
* :class:`IndexedDataset`, :func:`with_index`: datasets that give the loop each row's index.
* :class:`LossRecorder`: per-example losses and logits of *your* model, epoch by epoch, for
  the training-dynamics metrics (``lessdata.score(..., dynamics=recorder)``).

Ready integrations: :mod:`lessdata.integrations.hf` (Hugging Face ``Trainer``) and
:mod:`lessdata.integrations.lightning` (a Lightning callback).
"""

from lessdata.extras import require

require("torch", "lessdata.torch (samplers and the loss recorder)")

from lessdata.torch.data import IndexedDataset, with_index  # noqa: E402
from lessdata.torch.dynamic import DynamicPruningSampler  # noqa: E402
from lessdata.torch.recorder import LossRecorder  # noqa: E402
from lessdata.torch.samplers import PrunedSampler, kept_rows  # noqa: E402
from lessdata.torch.schedule import ProgressLR  # noqa: E402

__all__ = [
    "DynamicPruningSampler",
    "IndexedDataset",
    "LossRecorder",
    "ProgressLR",
    "PrunedSampler",
    "kept_rows",
    "with_index",
]
