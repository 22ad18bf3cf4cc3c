"""InfoBatch-style dynamic pruning against full data, random dynamic pruning and static subsets.

Every arm trains the same model (the scaling lab's 1-D CNN on MNIST-1D, or ``--model mlp``)
with the same optimizer (AdamW, lr 1e-3, weight decay 5e-4), the same one-cycle learning-rate
schedule built from the arm's own step count, the same batch size and the same number of
epochs, and is scored on the task's fixed 5,000-example test set. Arms:

* ``full``: every example every epoch;
* ``infobatch r``: :class:`lessdata.torch.DynamicPruningSampler` at prune ratio r (0.3, 0.5,
  0.7), with its re-weighted loss;
* ``random-dynamic r``: each epoch skips as many examples as the InfoBatch arm of the same
  seed skipped that epoch, drawn uniformly, no re-weighting (InfoBatch's own control);
* ``static random`` / ``static forgetting·keep-hard``: a fixed subset (``PrunedSampler``) of
  the size that gives the same total example-forwards as ``infobatch 0.5``.

Reported: test accuracy mean ± std over seeds and the share of example-forwards saved.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_dynamic_pruning.py    # 4k, cnn1d
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_dynamic_pruning.py \
        --n-train 20000 --model mlp
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Sampler, TensorDataset

import lessdata
from lessdata.labs.scaling.tasks import load_task
from lessdata.torch import DynamicPruningSampler, PrunedSampler
from lessdata.train.models import make_model


class RandomSkipSampler(Sampler[int]):
    """Each epoch, a uniform random subset of a given size (the control arm)."""

    def __init__(self, n: int, sizes: list[int], seed: int) -> None:
        self.n, self.sizes, self.seed, self.epoch = n, sizes, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch, 99])
        return iter(rng.choice(self.n, size=self.sizes[self.epoch], replace=False).tolist())

    def __len__(self) -> int:
        return self.sizes[self.epoch]


def train(task, model_name: str, sampler, epochs: int, seed: int, batch: int, steps: int):
    """Train with ``sampler``; return test accuracy and example-forwards per epoch."""
    torch.manual_seed(seed)
    x = task.x_train.astype(np.float32)
    mean, std = x.mean(), x.std()
    data = TensorDataset(torch.arange(len(x)), torch.from_numpy((x - mean) / std),
                         torch.from_numpy(task.y_train.astype(np.int64)))  # fmt: skip
    net = make_model(model_name, tuple(task.input_shape), task.n_classes, 64)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps + epochs)
    loader = DataLoader(data, batch_size=batch, sampler=sampler)
    dynamic = isinstance(sampler, DynamicPruningSampler)
    sizes = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        sizes.append(len(sampler))
        net.train()
        for idx, xb, yb in loader:
            loss = F.cross_entropy(net(xb), yb, reduction="none")
            if dynamic:
                loss = loss * sampler.update(idx, loss)
            opt.zero_grad(set_to_none=True)
            loss.mean().backward()
            opt.step()
            sched.step()
    net.eval()
    with torch.no_grad():
        xt = torch.from_numpy((task.x_test.astype(np.float32) - mean) / std)
        accuracy = float((net(xt).argmax(1).numpy() == task.y_test).mean())
    return accuracy, sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--model", default="cnn1d")
    parser.add_argument("--epochs", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    parser.add_argument("--figure", type=Path, default=None, help="draw results JSON files here")
    parser.add_argument("results", type=Path, nargs="*", help="with --figure: JSON files")
    args = parser.parse_args()
    if args.figure:
        figure(args.results, args.figure)
        return
    task = load_task("mnist1d", n_train=args.n_train, seed=0)
    n, epochs, batch = task.n_train, args.epochs, args.batch_size
    full_forwards = n * epochs
    start = time.perf_counter()
    forgetting = lessdata.score(task.x_train, "forgetting", labels=task.y_train, quiet=True)
    forgetting = np.asarray(forgetting.column("forgetting").to_numpy())
    print(f"forgetting scores (proxy mlp): {time.perf_counter() - start:.0f} s")
    results: dict[str, list[tuple[float, int]]] = {}

    def add(arm: str, accuracy: float, forwards: int) -> None:
        results.setdefault(arm, []).append((accuracy, forwards))

    for seed in range(args.seeds):
        steps = epochs * -(-n // batch)
        acc, sizes = train(task, args.model, PrunedSampler(np.arange(n), seed=seed), epochs,
                           seed, batch, steps)  # fmt: skip
        add("full", acc, sum(sizes))
        for ratio in (0.3, 0.5, 0.7):
            sampler = DynamicPruningSampler(n, epochs=epochs, prune_ratio=ratio, seed=seed)
            acc, sizes = train(task, args.model, sampler, epochs, seed, batch,
                               sampler.expected_total_steps(batch))  # fmt: skip
            add(f"infobatch {ratio}", acc, sum(sizes))
            control = RandomSkipSampler(n, sizes, seed)
            acc, _ = train(task, args.model, control, epochs, seed, batch,
                           sum(-(-s // batch) for s in sizes))  # fmt: skip
            add(f"random-dynamic {ratio}", acc, sum(sizes))
            if ratio == 0.5:
                matched = round(sum(sizes) / epochs)
        order = np.argsort(forgetting, kind="stable")
        for arm, kept in (
            ("static random", np.random.default_rng(seed).choice(n, matched, replace=False)),
            ("static forgetting keep-hard", order[n - matched :]),
        ):
            sampler = PrunedSampler(kept, seed=seed)
            acc, sizes = train(task, args.model, sampler, epochs, seed, batch,
                               epochs * -(-matched // batch))  # fmt: skip
            add(arm, acc, sum(sizes))
        print(f"seed {seed} done ({time.perf_counter() - start:.0f} s)", flush=True)
    full_acc = np.mean([a for a, _ in results["full"]])
    print(f"\nMNIST-1D {n:,} examples, {args.model}, {epochs} epochs, batch {batch}, "
          f"{args.seeds} seeds; accuracy on the 5,000 test examples")  # fmt: skip
    print(f"{'arm':32s} {'accuracy':>16s} {'vs full':>8s} {'forwards saved':>15s}")
    for arm, rows in results.items():
        accs = np.array([a for a, _ in rows])
        saved = 1 - np.mean([f for _, f in rows]) / full_forwards
        print(f"{arm:32s} {100 * accs.mean():8.2f} ± {100 * accs.std(ddof=1):4.2f} "
              f"{100 * (accs.mean() - full_acc):+8.2f} {saved:14.1%}")  # fmt: skip
    if args.out:
        meta = {"n_train": n, "model": args.model, "epochs": epochs, "seeds": args.seeds}
        args.out.write_text(json.dumps({"settings": meta, "arms": results}, indent=1) + "\n")


def figure(paths: list[Path], target: Path) -> None:
    """Accuracy against example-forwards saved, one panel per results file."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2 * len(paths), 4.0), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(paths), squeeze=False).ravel()
    styles = {"full": ("k", "*"), "infobatch": ("#d62728", "o"),
              "random-dynamic": ("#7f7f7f", "s"), "static random": ("#1f77b4", "^"),
              "static forgetting keep-hard": ("#2ca02c", "v")}  # fmt: skip
    for ax, path in zip(axes, paths, strict=True):
        record = json.loads(path.read_text())
        meta, arms = record["settings"], record["arms"]
        full = meta["n_train"] * meta["epochs"]
        for family, (colour, marker) in styles.items():
            points = [(arm, rows) for arm, rows in arms.items()
                      if arm == family or arm.startswith(family + " ")]  # fmt: skip
            xs = [100 * (1 - np.mean([f for _, f in rows]) / full) for _, rows in points]
            ys = [100 * np.mean([a for a, _ in rows]) for _, rows in points]
            es = [100 * np.std([a for a, _ in rows], ddof=1) for _, rows in points]
            ax.errorbar(xs, ys, yerr=es, fmt=marker + ("-" if len(xs) > 1 else ""),
                        color=colour, label=family, capsize=3, ms=6)  # fmt: skip
        ax.set_xlabel("example-forwards saved (%)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"MNIST-1D {meta['n_train']:,}, {meta['model']}, {meta['epochs']} epochs, "
                     f"{meta['seeds']} seeds", fontsize=10)  # fmt: skip
        ax.legend(fontsize=8)
    fig.savefig(target)


if __name__ == "__main__":
    main()
