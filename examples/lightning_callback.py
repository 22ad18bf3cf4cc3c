"""Dynamic pruning in Lightning: a tiny CPU model on tiny synthetic data, done in seconds.
``python examples/lightning_callback.py`` (needs ``pip install 'lessdata[integrations]'``).

The training DataLoader draws with a ``DynamicPruningSampler`` planned to save 30% of the
example-forwards; ``DynamicPruningCallback`` decides each epoch and checkpoints the sampler;
``training_step`` weighs the per-example losses with ``pruned_loss``; the one-cycle schedule is
sized with the plan's exact optimizer steps, so its last step runs at its final value.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from lessdata.integrations.lightning import DynamicPruningCallback, pruned_loss
from lessdata.torch import DynamicPruningSampler, IndexedDataset


def make_data(n: int, seed: int) -> torch.utils.data.TensorDataset:
    """``n`` points in 8 dimensions, labelled by a noisy linear rule."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=gen)
    noise = 0.3 * torch.randn(n, generator=gen)
    return torch.utils.data.TensorDataset(x, (x[:, 0] + 0.5 * x[:, 1] + noise > 0).long())


class TinyClassifier(pl.LightningModule):
    """A two-layer network; ``training_step`` weighs each example's loss by the sampler."""

    def __init__(self, batch: int, max_lr: float = 0.05) -> None:
        super().__init__()
        self.batch, self.max_lr = batch, max_lr
        self.net = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(),
                                       torch.nn.Linear(32, 2))  # fmt: skip
        self.learning_rates: list[float] = []  # the rate of every optimizer step, to check

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        idx, x, y = batch
        return pruned_loss(self, idx, F.cross_entropy(self(x), y, reduction="none"))

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        self.learning_rates.append(optimizer.param_groups[0]["lr"])

    def configure_optimizers(self) -> Any:
        callback = next(c for c in self.trainer.callbacks if isinstance(c, DynamicPruningCallback))
        opt = torch.optim.SGD(self.parameters(), lr=self.max_lr, momentum=0.9)
        steps = callback.total_steps(self.trainer, self.batch)  # exact: the sampler's plan
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, self.max_lr, total_steps=steps)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def train(
    *,
    epochs: int = 6,
    target_saving: float = 0.3,
    n: int = 1024,
    batch: int = 32,
    grad_accum: int = 2,
    seed: int = 0,
    root: str | None = None,
    save_every: int | None = None,
    checkpoint: str | None = None,
    trainer_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit the tiny classifier with dynamic pruning; return what the run measured.

    ``save_every`` optimizer steps a checkpoint goes to ``root`` (``step=<k>.ckpt``);
    ``checkpoint`` resumes from one.
    """
    pl.seed_everything(seed, verbose=False)
    sampler = DynamicPruningSampler(n, epochs=epochs, target_saving=target_saving, seed=seed)
    loader = torch.utils.data.DataLoader(IndexedDataset(make_data(n, seed)), batch_size=batch,
                                         sampler=sampler)  # fmt: skip
    model = TinyClassifier(batch)
    callbacks: list[Any] = [DynamicPruningCallback(sampler)]
    if save_every:
        callbacks.append(pl.callbacks.ModelCheckpoint(root, "{step}", save_top_k=-1,
                                                      every_n_train_steps=save_every))  # fmt: skip
    trainer = pl.Trainer(
        max_epochs=epochs, accelerator="cpu", devices=1, accumulate_grad_batches=grad_accum,
        callbacks=callbacks, logger=False, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=bool(save_every),
        default_root_dir=root, **(trainer_options or {}),
    )  # fmt: skip
    trainer.fit(model, loader, ckpt_path=checkpoint)
    test_x, test_y = make_data(512, seed + 1).tensors
    with torch.no_grad():
        accuracy = float((model(test_x).argmax(1) == test_y).float().mean())
    return {
        "accuracy": accuracy,
        "saved": 1 - sampler.forwards / (n * epochs),
        "steps": trainer.global_step,
        "planned_steps": sampler.total_steps(batch, grad_accum, partial_accum="step"),
        "learning_rates": model.learning_rates,
        "model": model,
        "sampler": sampler,
        "trainer": trainer,
    }


def main() -> None:
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no banner
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--target-saving", type=float, default=0.3)
    args = parser.parse_args()
    result = train(epochs=args.epochs, target_saving=args.target_saving)
    print(f"accuracy {result['accuracy']:.3f}, {result['saved']:.0%} of example-forwards saved, "
          f"{result['steps']} optimizer steps (planned {result['planned_steps']}), last step's "
          f"learning rate {result['learning_rates'][-1]:.2g}")  # fmt: skip


if __name__ == "__main__":
    main()
