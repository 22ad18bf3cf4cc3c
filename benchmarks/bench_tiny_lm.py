"""Benchmark: training and evaluation throughput of the default tiny LM on this CPU.

One run prints, for the same machine and the same torch threads:

1. the parameter count of the default :class:`lessdata.train.tiny_lm.TinyLMConfig`;
2. its training throughput (tokens/s of ``train_tiny_lm`` on real code: the Python standard
   library's sources) and its evaluation throughput (``heldout_bits_per_byte`` and
   ``document_losses`` on held-out stdlib files);
3. the baseline, timed in the same run just before and just after each measurement (the
   machine may be shared): dense float32 ``torch.mm`` FLOP/s over the model's own weight
   products -- for training, those of one step (each forward product over ``batch_size ×
   context`` rows and its two gradient products); for evaluation, the forward products of
   a 32-window batch;
4. the model FLOPs utilisation (MFU): model FLOPs/s over the baseline's FLOP/s, with model
   FLOPs per token = 6·N + 12·L·d·T for training and 2·N + 4·L·d·T for evaluation (N = the
   parameters that do matrix products, i.e. all but the position embedding; the attention
   term counts the full T × T score matrix, as nanoGPT's estimate does, although the fused
   causal kernel skips about half of it; the MFU of the 6·N / 2·N part alone is printed too).

Usage::

    python benchmarks/bench_tiny_lm.py              # about 1 minute on 2 cores
    python benchmarks/bench_tiny_lm.py --steps 10   # smoke test

The figures are also written to ``<workdir>/bench_tiny_lm.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sysconfig
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lessdata.train.tiny_lm import (
    TinyLMConfig,
    document_losses,
    encode,
    heldout_bits_per_byte,
    train_tiny_lm,
)

#: held-out files: every EVAL_EVERY-th stdlib file (sorted by path) is held out
EVAL_EVERY = 20


def stdlib_code(train_bytes: int, eval_bytes: int) -> tuple[list[str], list[str]]:
    """Python standard-library sources: training files and held-out files, in path order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    paths = sorted(p for p in root.glob("*.py"))
    paths += sorted(p for p in root.glob("*/*.py") if "test" not in p.parts[-2])
    train: list[str] = []
    held_out: list[str] = []
    n_train = n_eval = 0
    for i, path in enumerate(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if i % EVAL_EVERY == 0:
            if n_eval < eval_bytes:
                held_out.append(text)
                n_eval += len(text.encode("utf-8"))
        elif n_train < train_bytes:
            train.append(text)
            n_train += len(text.encode("utf-8"))
        if n_train >= train_bytes and n_eval >= eval_bytes:
            break
    return train, held_out


def forward_shapes(config: TinyLMConfig, rows: int) -> list[tuple[int, int, int]]:
    """(m, k, n) of each weight product of one forward pass over ``rows`` tokens.

    Per layer: qkv, attention output, MLP in, MLP out; then the tied output head. The T × T
    attention products are left out: the model runs them in a fused causal kernel (which
    skips the masked half), not as dense matrix products.
    """
    d = config.d_model
    layer = [(rows, d, 3 * d), (rows, d, d), (rows, d, 4 * d), (rows, 4 * d, d)]
    return layer * config.n_layer + [(rows, d, 257)]


def training_shapes(config: TinyLMConfig) -> list[tuple[int, int, int]]:
    """The weight products of one training step: each forward (m, k, n) and its two gradients."""
    rows = config.batch_size * config.context
    shapes = []
    for m, k, n in forward_shapes(config, rows):
        shapes += [(m, k, n), (m, n, k), (k, m, n)]  # output, d(input), d(weight)
    return shapes


def matmul_flops(shapes: list[tuple[int, int, int]], seconds: float = 3.0) -> float:
    """Dense float32 ``torch.mm`` FLOP/s over ``shapes``, timed for about ``seconds``."""
    gen = torch.Generator().manual_seed(0)
    counts: dict[tuple[int, int, int], int] = {}
    for shape in shapes:  # identical shapes are timed once per round, as often as used
        counts[shape] = counts.get(shape, 0) + 1
    pairs = [
        (torch.randn(m, k, generator=gen), torch.randn(k, n, generator=gen), count)
        for (m, k, n), count in counts.items()
    ]
    flops_per_round = sum(2 * m * k * n * c for (m, k, n), c in counts.items())
    for a, w, _ in pairs:  # warm up
        torch.mm(a, w)
    rounds, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for a, w, count in pairs:
            for _ in range(count):
                torch.mm(a, w)
        rounds += 1
    return rounds * flops_per_round / (time.perf_counter() - start)


def flops_per_token(n_matmul_params: int, config: TinyLMConfig) -> tuple[float, float]:
    """Model FLOPs per token (training, evaluation): nanoGPT's estimate, full T × T attention."""
    attention = config.n_layer * config.d_model * config.context
    return 6 * n_matmul_params + 12 * attention, 2 * n_matmul_params + 4 * attention


def cpu_name() -> str:
    """The CPU's model name, from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="training steps to time")
    parser.add_argument("--train-bytes", type=int, default=4_000_000)
    parser.add_argument("--eval-bytes", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/out"))
    args = parser.parse_args()
    os.environ.setdefault("LESSDATA_QUIET", "1")

    config = TinyLMConfig()
    tokens_per_step = config.batch_size * config.context
    config.tokens = args.steps * tokens_per_step
    train, held_out = stdlib_code(args.train_bytes, args.eval_bytes)
    n_eval_tokens = len(encode(held_out))
    print(f"torch {torch.__version__}, torch.get_num_threads() = {torch.get_num_threads()}")
    print(f"CPU: {cpu_name()}, os.cpu_count() = {os.cpu_count()}, load {os.getloadavg()}")
    print(
        f"data: {len(train)} stdlib files ({len(encode(train)):,} tokens) to train on, "
        f"{len(held_out)} held out ({n_eval_tokens:,} tokens)"
    )

    train_shapes, eval_shapes = training_shapes(config), forward_shapes(config, 32 * config.context)
    train_tiny_lm(train, TinyLMConfig(tokens=3 * tokens_per_step))  # warm-up, not timed
    mm_train = [matmul_flops(train_shapes)]
    run = train_tiny_lm(train, config)
    mm_train.append(matmul_flops(train_shapes))
    model = run.model
    n_params = model.n_params()
    n_matmul = n_params - model.pos_emb.weight.numel()
    mm_eval = [matmul_flops(eval_shapes)]
    start = time.perf_counter()
    bits = heldout_bits_per_byte(model, held_out, batch_size=32)
    eval_tps = n_eval_tokens / (time.perf_counter() - start)
    start = time.perf_counter()
    losses = document_losses(model, held_out, batch_size=32)
    doc_tps = n_eval_tokens / (time.perf_counter() - start)
    mm_eval.append(matmul_flops(eval_shapes))

    mm_t, mm_e = float(np.mean(mm_train)), float(np.mean(mm_eval))
    train_fpt, eval_fpt = flops_per_token(n_matmul, config)
    figures: dict[str, Any] = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": cpu_name(),
        "config": vars(config),
        "params": n_params,
        "matmul_params": n_matmul,
        "train_steps": run.steps,
        "train_tokens_per_s": run.tokens_per_second,
        "heldout_eval_tokens_per_s": eval_tps,
        "document_losses_tokens_per_s": doc_tps,
        "heldout_bits_per_byte": bits,
        "mean_document_nats_per_byte": float(np.mean(losses)),
        "matmul_gflops_training_shapes": [x / 1e9 for x in mm_train],
        "matmul_gflops_eval_shapes": [x / 1e9 for x in mm_eval],
        "train_model_gflops": run.tokens_per_second * train_fpt / 1e9,
        "eval_model_gflops": eval_tps * eval_fpt / 1e9,
        "train_mfu": run.tokens_per_second * train_fpt / mm_t,
        "eval_mfu": eval_tps * eval_fpt / mm_e,
        "train_mfu_weights_only": run.tokens_per_second * 6 * n_matmul / mm_t,
        "eval_mfu_weights_only": eval_tps * 2 * n_matmul / mm_e,
        "seconds_per_1m_training_tokens": 1e6 / run.tokens_per_second,
    }
    print(f"parameters: {n_params:,} ({n_matmul:,} in matrix products)")
    print(
        f"training: {run.steps} steps × {tokens_per_step} tokens in {run.train_seconds:.1f} s = "
        f"{run.tokens_per_second:,.0f} tokens/s "
        f"(the default 1M-token budget: {figures['seconds_per_1m_training_tokens']:.0f} s); "
        f"held-out {bits:.2f} bits/byte after {run.steps} steps"
    )
    print(
        f"evaluation: heldout_bits_per_byte {eval_tps:,.0f} tokens/s, "
        f"document_losses {doc_tps:,.0f} tokens/s"
    )
    print(
        "baseline torch.mm float32 at the model's shapes (before, after): training step "
        f"{mm_train[0] / 1e9:.1f}, {mm_train[1] / 1e9:.1f} GFLOP/s; "
        f"forward {mm_eval[0] / 1e9:.1f}, {mm_eval[1] / 1e9:.1f} GFLOP/s"
    )
    print(
        f"MFU: training {figures['train_mfu']:.0%} ({train_fpt / 1e6:.2f} MFLOP/token = "
        f"{figures['train_model_gflops']:.1f} GFLOP/s over {mm_t / 1e9:.1f}); "
        f"evaluation {figures['eval_mfu']:.0%} ({eval_fpt / 1e6:.2f} MFLOP/token = "
        f"{figures['eval_model_gflops']:.1f} GFLOP/s over {mm_e / 1e9:.1f})"
    )
    print(
        "MFU of the weight products alone (6N, 2N): training "
        f"{figures['train_mfu_weights_only']:.0%}, "
        f"evaluation {figures['eval_mfu_weights_only']:.0%}"
    )
    args.workdir.mkdir(parents=True, exist_ok=True)
    out = args.workdir / "bench_tiny_lm.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"figures written to {out}")


if __name__ == "__main__":
    main()
