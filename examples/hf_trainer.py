"""Dynamic pruning inside a Hugging Face ``Trainer``: a tiny CPU model on tiny synthetic data,
done in seconds. ``python examples/hf_trainer.py`` (needs ``pip install 'lessdata[integrations]'``).

The Trainer draws its batches from a ``DynamicPruningSampler`` planned to save 30% of the
example-forwards, weighs each example's loss by what the sampler returns, and runs exactly the
planned optimizer steps, so its linear learning-rate decay ends at 0. Checkpoints hold the
sampler's state: ``train(..., resume="out/checkpoint-40")`` continues the same run.
"""

from __future__ import annotations

import argparse
import tempfile
from typing import Any

import datasets
import numpy as np
import torch
from transformers import TrainingArguments

from lessdata.integrations.hf import PruningTrainer
from lessdata.torch import DynamicPruningSampler, with_index


class TinyClassifier(torch.nn.Module):
    """A two-layer network a Trainer can drive: ``forward(x, labels)`` returns the logits."""

    def __init__(self, features: int, classes: int) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(features, 32), torch.nn.ReLU(), torch.nn.Linear(32, classes)
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
        return {"logits": self.net(x)}


def make_data(n: int, seed: int) -> datasets.Dataset:
    """``n`` points in 8 dimensions, labelled by a noisy linear rule."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] - 0.25 * x[:, 2] + 0.3 * rng.normal(size=n) > 0).astype(int)
    return datasets.Dataset.from_dict({"x": x.tolist(), "labels": y.tolist()})


def train(
    output_dir: str,
    *,
    epochs: int = 6,
    target_saving: float = 0.3,
    n: int = 1024,
    batch: int = 32,
    grad_accum: int = 2,
    seed: int = 0,
    save_steps: int | None = None,
    resume: str | None = None,
) -> dict[str, Any]:
    """Train the tiny classifier with dynamic pruning; return what the run measured."""
    train_set = with_index(make_data(n, seed))  # the sampler's update needs each row's index
    test_set = make_data(512, seed + 1)
    torch.manual_seed(seed)
    model = TinyClassifier(8, 2)
    sampler = DynamicPruningSampler(n, epochs=epochs, target_saving=target_saving, seed=seed)
    args = TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=epochs,
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=grad_accum,
        learning_rate=3e-3,
        lr_scheduler_type="linear",
        logging_strategy="no",
        save_strategy="steps" if save_steps else "no",
        save_steps=save_steps or 500,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        seed=seed,
    )
    trainer = PruningTrainer(model=model, args=args, train_dataset=train_set,
                             pruning_sampler=sampler)  # fmt: skip
    trainer.train(resume_from_checkpoint=resume)
    with torch.no_grad():
        logits = model(torch.tensor(test_set["x"]))["logits"]
    return {
        "accuracy": float((logits.argmax(1).numpy() == np.array(test_set["labels"])).mean()),
        "saved": 1 - sampler.forwards / (n * epochs),
        "steps": trainer.state.global_step,
        "planned_steps": sampler.total_steps(batch, grad_accum, partial_accum="step"),
        "last_lr": trainer.lr_scheduler.get_last_lr()[0],
        "model": model,
        "sampler": sampler,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--target-saving", type=float, default=0.3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        result = train(out, epochs=args.epochs, target_saving=args.target_saving)
    print(f"accuracy {result['accuracy']:.3f}, {result['saved']:.0%} of example-forwards saved, "
          f"{result['steps']} optimizer steps (planned {result['planned_steps']}), "
          f"final learning rate {result['last_lr']:.2g}")  # fmt: skip


if __name__ == "__main__":
    main()
