"""Dynamic pruning against full data and random skipping, every arm on one training loop.

Every arm of a task runs the *same* loop: a :class:`lessdata.torch.DynamicPruningSampler`
(full data is ``plan=[n] * epochs``), a DataLoader over :class:`lessdata.torch.IndexedDataset`,
the per-example loss re-weighted by ``sampler.update``, AdamW, and one OneCycleLR built for
the full run's step count and driven by the sampler's progress
(:class:`lessdata.torch.ProgressLR`), so every arm's schedule ends on its final value
whatever its number of steps (recorded: ``final_lr`` against ``schedule_end_lr``). Per seed,
every arm starts from the same initial weights (``torch.manual_seed(seed)``) and the sampler
takes the same seed. Arms:

* ``full``: every example every epoch;
* ``infobatch-r0.5`` / ``infobatch-r0.7``: InfoBatch as published, ``prune_ratio`` 0.5 / 0.7;
* ``random-r0.5`` / ``random-r0.7``: uniform random skipping with exactly the epoch sizes the
  InfoBatch arm of the same seed had (``plan=`` its ``epoch_size`` per epoch);
* ``infobatch-s0.4``, ``seta-s0.4``, ``random-s0.4``: ``target_saving=0.4`` (40% of the
  forwards saved, every epoch's size planned and identical across the three): InfoBatch's
  rule, SeTa (Zhou et al., CVPR 2025) and random skipping at equal cost.

Tasks: MNIST-1D with 4,000 and 20,000 training examples (``load_task``), the scaling lab's
1-D CNN (width 64), batch 128, 32 epochs, AdamW (max lr 3e-3, weight decay 5e-4), scored on
the fixed 5,000 test signals; and ``code-lm``, the tiny byte-level GPT (2 layers, width 64,
context 128) on 2,000 Python functions of the standard library (each document its first 127
bytes between end-of-document tokens; the loss per document is its mean next-byte loss),
batch 32, 16 epochs, scored by next-byte accuracy and bits per token on 1,000 functions of
held-out files.

Each finished (task, arm, seed) appends one JSON line to ``--out`` (settings, the lessdata
version and commit, accuracy, forwards saved, steps, final learning rate, epoch sizes);
lines already there are skipped, so a killed run resumes. ``--report`` prints the tables
from that file alone (``--figure`` draws them).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_dynamic_pruning.py       # all tasks
    .venv/bin/python benchmarks/bench_dynamic_pruning.py --report \\
        --figure docs/figures/dynamic_pruning.png
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dynamic_pruning_report as report

import lessdata
from lessdata.torch import DynamicPruningSampler, IndexedDataset, ProgressLR

ROOT = Path(__file__).resolve().parents[1]
EVIDENCE = ROOT / "docs" / "evidence" / "dynamic-pruning" / "runs.jsonl"

_MNIST = {"data": "mnist1d", "model": "cnn1d", "width": 64, "epochs": 32, "batch": 128,
          "max_lr": 3e-3, "weight_decay": 5e-4, "clip": None}  # fmt: skip
_CODE = {"data": "python-functions", "model": "tiny-lm", "n_layer": 2, "n_head": 4,
         "d_model": 64, "context": 128, "heldout": 1000, "epochs": 32, "batch": 32,
         "max_lr": 3e-3, "weight_decay": 0.1, "clip": 1.0}  # fmt: skip
#: every task's settings (what a resumed line must match) and its seeds, in running order
TASKS: dict[str, dict[str, Any]] = {
    "mnist1d-4k": {**_MNIST, "n": 4000},
    "mnist1d-20k": {**_MNIST, "n": 20000},
    "code-lm": {**_CODE, "n": 800},
}
SEEDS = {"mnist1d-4k": 10, "mnist1d-20k": 5, "code-lm": 5}
#: the tiny settings the tests run end to end (seconds)
TINY: dict[str, dict[str, Any]] = {
    "tiny-mnist1d": {**_MNIST, "n": 256, "width": 8, "epochs": 4, "batch": 32},
    "tiny-code-lm": {**_CODE, "data": "synthetic-functions", "n": 48, "heldout": 16,
                     "d_model": 16, "n_head": 2, "n_layer": 1, "context": 32, "epochs": 4,
                     "batch": 8},
}  # fmt: skip
TINY_SEEDS = {"tiny-mnist1d": 2, "tiny-code-lm": 2}
#: each arm's sampler arguments; a ``plan`` naming an arm takes that arm's epoch sizes
ARMS: dict[str, dict[str, Any]] = {
    "full": {"plan": "full"},
    "infobatch-r0.5": {"prune_ratio": 0.5},
    "random-r0.5": {"method": "random", "plan": "infobatch-r0.5"},
    "infobatch-r0.7": {"prune_ratio": 0.7},
    "random-r0.7": {"method": "random", "plan": "infobatch-r0.7"},
    "infobatch-s0.4": {"target_saving": 0.4},
    "seta-s0.4": {"method": "seta", "target_saving": 0.4},
    "random-s0.4": {"method": "random", "target_saving": 0.4},
}
assert list(ARMS) == list(report.LABELS)
#: OneCycleLR's defaults: it ends at max_lr / DIV_FACTOR / FINAL_DIV_FACTOR
DIV_FACTOR, FINAL_DIV_FACTOR = 25.0, 1e4


@dataclass
class Problem:
    """What the shared loop needs of a task.

    Attributes:
        n: training examples.
        data: the training set, each item ``(index, *tensors)``.
        make_model: a fresh model (call it under ``torch.manual_seed``).
        losses: ``(model, tensors of a batch) →`` one loss per example.
        evaluate: ``model →`` ``{"accuracy": %, ...}`` on the task's test set.
        tokens: per example, the tokens its loss averages (None: one per example).
    """

    n: int
    data: IndexedDataset
    make_model: Callable[[], torch.nn.Module]
    losses: Callable[[torch.nn.Module, Sequence[torch.Tensor]], torch.Tensor]
    evaluate: Callable[[torch.nn.Module], dict[str, float]]
    tokens: np.ndarray | None = None


# --- tasks ---------------------------------------------------------------------------------


def mnist_problem(settings: dict[str, Any]) -> Problem:
    """MNIST-1D of ``settings["n"]`` training signals (generator seed 0, the same for every
    seed and arm) and the scaling lab's model."""
    from lessdata.labs.scaling.tasks import load_task
    from lessdata.train.models import make_model

    task = load_task("mnist1d", n_train=settings["n"], seed=0)
    data = IndexedDataset(TensorDataset(torch.from_numpy(task.x_train),
                                        torch.from_numpy(task.y_train)))  # fmt: skip
    x_test, y_test = torch.from_numpy(task.x_test), torch.from_numpy(task.y_test)

    def model() -> torch.nn.Module:
        shape = tuple(task.input_shape)
        return make_model(settings["model"], shape, task.n_classes, settings["width"])

    def losses(net: torch.nn.Module, batch: Sequence[torch.Tensor]) -> torch.Tensor:
        xb, yb = batch
        return F.cross_entropy(net(xb), yb, reduction="none")

    def evaluate(net: torch.nn.Module) -> dict[str, float]:
        net.eval()
        with torch.no_grad():
            right = (net(x_test).argmax(1) == y_test).double().mean()
        return {"accuracy": 100 * float(right)}

    return Problem(task.n_train, data, model, losses, evaluate)


def function_texts(settings: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Training and held-out Python functions: the code-LM lab's corpus of the standard
    library (files split by a hash of their path, so no file feeds both), or, for the
    tests, small synthetic functions."""
    n, heldout = settings["n"], settings["heldout"]
    if settings["data"] == "synthetic-functions":
        make = [f"def f{i}(x):\n    return x * {i % 7} + {i % 3}\n" for i in range(n + heldout)]
        return make[:n], make[n:]
    import sysconfig

    from lessdata.labs.scaling.code_lm import CodeLMSpec, build_corpus
    from lessdata.labs.scaling.tasks import default_task_cache

    spec = CodeLMSpec(roots=[sysconfig.get_paths()["stdlib"]], pool_docs=n,
                      heldout_docs=heldout, target_docs=2, data_seed=0)  # fmt: skip
    corpus = build_corpus(spec, default_task_cache() / "dynamic-pruning-code")
    return corpus.texts("pool").to_pylist(), corpus.texts("heldout").to_pylist()


def document_tokens(texts: Sequence[str], context: int) -> tuple[np.ndarray, np.ndarray]:
    """Each document as ``EOT + its bytes + EOT``, cut to ``context + 1`` tokens and padded
    (with EOT) to that width; and its number of next-token predictions (at most
    ``context``)."""
    from lessdata.train.tiny_lm import EOT

    rows = np.full((len(texts), context + 1), EOT, dtype=np.int64)
    counts = np.zeros(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        body = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)[:context]
        seq = np.concatenate(([EOT], body, [EOT]))[: context + 1]
        rows[i, : len(seq)] = seq
        counts[i] = len(seq) - 1
    return rows, counts


def lm_losses(net: torch.nn.Module, tokens: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Per document, the mean next-token cross-entropy (nats) over its predictions."""
    from lessdata.train.tiny_lm import VOCAB

    width = int(counts.max())
    logits = net(tokens[:, :width])
    target = tokens[:, 1 : width + 1]
    each = F.cross_entropy(logits.reshape(-1, VOCAB), target.reshape(-1),
                           reduction="none").view(target.shape)  # fmt: skip
    mask = torch.arange(width)[None, :] < counts[:, None]
    return (each * mask).sum(1) / counts


def code_problem(settings: dict[str, Any]) -> Problem:
    """Python functions for the tiny byte-level GPT, one document per example."""
    from lessdata.train.tiny_lm import VOCAB, TinyLM, TinyLMConfig

    train_texts, heldout_texts = function_texts(settings)
    context = settings["context"]
    tokens, counts = document_tokens(train_texts, context)
    test_tokens, test_counts = document_tokens(heldout_texts, context)
    data = IndexedDataset(TensorDataset(torch.from_numpy(tokens), torch.from_numpy(counts)))
    config = TinyLMConfig(n_layer=settings["n_layer"], n_head=settings["n_head"],
                          d_model=settings["d_model"], context=context)  # fmt: skip

    def losses(net: torch.nn.Module, batch: Sequence[torch.Tensor]) -> torch.Tensor:
        return lm_losses(net, *batch)

    def evaluate(net: torch.nn.Module) -> dict[str, float]:
        net.eval()
        right = nats = 0.0
        with torch.no_grad():
            for a in range(0, len(test_tokens), 64):
                tok = torch.from_numpy(test_tokens[a : a + 64])
                cnt = torch.from_numpy(test_counts[a : a + 64])
                width = int(cnt.max())
                logits = net(tok[:, :width])
                target = tok[:, 1 : width + 1]
                mask = torch.arange(width)[None, :] < cnt[:, None]
                each = F.cross_entropy(logits.reshape(-1, VOCAB), target.reshape(-1),
                                       reduction="none").view(target.shape)  # fmt: skip
                nats += float((each * mask).sum())
                right += float(((logits.argmax(-1) == target) & mask).sum())
        total = float(test_counts.sum())
        return {"accuracy": 100 * right / total, "bits_per_token": nats / total / math.log(2)}

    return Problem(len(train_texts), data, lambda: TinyLM(config), losses, evaluate, counts)


def problem(settings: dict[str, Any]) -> Problem:
    """The task ``settings`` describe."""
    return mnist_problem(settings) if settings["data"] == "mnist1d" else code_problem(settings)


# --- the one training loop -------------------------------------------------------------------


def sampler_options(arm: str, n: int, epochs: int, done: dict[str, dict]) -> dict[str, Any]:
    """``arm``'s sampler arguments; a plan naming another arm is that arm's epoch sizes in
    ``done`` (the lines of the same task and seed)."""
    options = dict(ARMS[arm])
    plan = options.get("plan")
    if plan == "full":
        options["plan"] = [n] * epochs
    elif isinstance(plan, str):
        if plan not in done:
            raise RuntimeError(f"arm {arm} needs the epoch sizes of {plan}, which has not run")
        options["plan"] = list(done[plan]["epoch_sizes"])
    return options


def train(prob: Problem, settings: dict[str, Any], options: dict[str, Any],
          seed: int) -> dict[str, Any]:  # fmt: skip
    """Train one arm; return its measurements (accuracy, forwards, steps, final lr, ...)."""
    epochs, batch, n = settings["epochs"], settings["batch"], prob.n
    torch.manual_seed(seed)
    net = prob.make_model()
    sampler = DynamicPruningSampler(n, epochs=epochs, seed=seed, **options)
    loader = DataLoader(prob.data, batch_size=batch, sampler=sampler)
    opt = torch.optim.AdamW(net.parameters(), lr=settings["max_lr"],
                            weight_decay=settings["weight_decay"])  # fmt: skip
    schedule_steps = epochs * math.ceil(n / batch)  # the full run's optimizer steps
    cycle = torch.optim.lr_scheduler.OneCycleLR(
        opt, settings["max_lr"], total_steps=schedule_steps, div_factor=DIV_FACTOR,
        final_div_factor=FINAL_DIV_FACTOR,
    )  # fmt: skip
    sched = ProgressLR(cycle, sampler)
    sizes, steps, tokens = [], 0, 0
    start = time.perf_counter()
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        sizes.append(sampler.epoch_size)
        net.train()
        for idx, *tensors in loader:
            losses = prob.losses(net, tensors)
            loss = (losses * sampler.update(idx, losses)).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if settings["clip"]:
                torch.nn.utils.clip_grad_norm_(net.parameters(), settings["clip"])
            opt.step()
            sched.step()
            steps += 1
            if prob.tokens is not None:
                tokens += int(prob.tokens[idx.numpy()].sum())
    seconds = time.perf_counter() - start
    out: dict[str, Any] = prob.evaluate(net)
    out.update({
        "forwards": sampler.forwards, "full_forwards": n * epochs,
        "saved": 1 - sampler.forwards / (n * epochs), "epoch_sizes": sizes, "steps": steps,
        "planned_steps": sampler.total_steps(batch) if sampler.plan is not None else None,
        "schedule_steps": schedule_steps, "final_lr": opt.param_groups[0]["lr"],
        "schedule_end_lr": settings["max_lr"] / DIV_FACTOR / FINAL_DIV_FACTOR,
        "progress": sampler.progress, "seconds": round(seconds, 2),
    })  # fmt: skip
    if prob.tokens is not None:
        out["tokens_saved"] = 1 - tokens / (int(prob.tokens.sum()) * epochs)
    return out


# --- the evidence ----------------------------------------------------------------------------


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True, cwd=ROOT).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The runs already in ``path`` (none when it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_all(tasks: dict[str, dict[str, Any]], seeds: dict[str, int], out: Path) -> None:
    """Run every (task, seed, arm) not yet in ``out``, appending one line each."""
    lines = read_lines(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"lessdata": lessdata.__version__, "commit": _commit(), "torch": torch.__version__,
            "python": platform.python_version(), "threads": torch.get_num_threads()}  # fmt: skip
    for task, settings in tasks.items():
        mine = [r for r in lines if r["task"] == task]
        for line in mine:
            if line["settings"] != settings:
                raise SystemExit(f"{out}: {task} was run with other settings "
                                 f"({line['settings']}); use another --out")  # fmt: skip
        prob: Problem | None = None
        for seed in range(seeds[task]):
            done = {r["arm"]: r for r in mine if r["seed"] == seed}
            for arm in ARMS:
                if arm in done:
                    continue
                prob = prob or problem(settings)
                options = sampler_options(arm, prob.n, settings["epochs"], done)
                result = train(prob, settings, options, seed)
                shown = {k: v for k, v in options.items() if k != "plan" or arm == "full"}
                line = {"task": task, "arm": arm, "seed": seed, "settings": settings,
                        "sampler": shown, **result, **meta}  # fmt: skip
                with out.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(line) + "\n")
                done[arm] = line
                mine.append(line)
                print(f"{task} seed {seed} {arm:15s} accuracy {result['accuracy']:.2f} "
                      f"saved {100 * result['saved']:.1f}% steps {result['steps']} "
                      f"{result['seconds']:.0f} s", flush=True)  # fmt: skip
        lines = [r for r in lines if r["task"] != task] + mine


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=EVIDENCE, help="the JSON Lines evidence")
    parser.add_argument("--tasks", default=",".join(TASKS),
                        help=f"comma-separated, of {', '.join(TASKS)}")  # fmt: skip
    parser.add_argument("--seeds", type=int, default=None, help="seeds per task (default: "
                        + ", ".join(f"{t} {s}" for t, s in SEEDS.items()) + ")")  # fmt: skip
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny tasks instead")
    parser.add_argument("--report", action="store_true", help="only print the tables")
    parser.add_argument("--figure", type=Path, default=None, help="draw the figure here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    catalogue, counts = (TINY, TINY_SEEDS) if args.tiny else (TASKS, SEEDS)
    names = list(catalogue) if args.tiny else [t for t in args.tasks.split(",") if t]
    unknown = [t for t in names if t not in catalogue]
    if unknown:
        parser.error(f"unknown task {unknown[0]!r}; choose among {', '.join(catalogue)}")
    if not args.report:
        seeds = {t: args.seeds or counts[t] for t in names}
        run_all({t: catalogue[t] for t in names}, seeds, args.out)
    lines = [r for r in read_lines(args.out) if r["task"] in names]
    for task in report.by_task(lines):
        print(f"\n{task}\n\n{report.table(lines, task)}\n\n{report.verdict(lines, task)}")
    if args.figure and lines:
        report.figure(lines, args.figure)


if __name__ == "__main__":
    main()
