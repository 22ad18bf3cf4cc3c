"""How good is the SSL embedding? Linear-probe and k-NN accuracy on MNIST-1D, in one run.

Each representation of the same MNIST-1D training set is judged by two label-using probes
fitted on the training set and scored on the task's fixed test set: a logistic regression
(linear probe) and a 10-nearest-neighbour vote (what k-means distances see). Rows:

* raw signals, standardised (what ``prototypes`` measured before ``lessdata embed``);
* an untrained encoder of the same architecture (``steps=0``: random features);
* the SimCLR encoder (``lessdata.embed.ssl``, kind ``signal``) after ``--steps`` steps.

The encoders are trained on the training signals only (as ``lessdata.embed.ssl`` would be
by a user embedding their training set) and then embed the test signals.

    .venv/bin/python benchmarks/bench_ssl_probe.py                 # 4,000 examples
    .venv/bin/python benchmarks/bench_ssl_probe.py --n-train 20000 --steps 3000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from lessdata.embed.contrastive import ssl_input
from lessdata.embed.ssl_options import SSLOptions
from lessdata.embed.ssl_training import embed_with, standardise, train_encoder
from lessdata.labs.scaling.tasks import load_task


def probes(train: np.ndarray, y_train: np.ndarray, test: np.ndarray, y_test: np.ndarray):
    scaler = StandardScaler().fit(train)
    a, b = scaler.transform(train), scaler.transform(test)
    linear = LogisticRegression(max_iter=2000).fit(a, y_train).score(b, y_test)
    knn = KNeighborsClassifier(10).fit(train, y_train).score(test, y_test)
    return linear, knn


def encode(train: np.ndarray, test: np.ndarray, steps: int, seed: int, checkpoint: Path):
    """Train the encoder ``lessdata.embed.ssl`` trains on ``train`` only; embed both sets."""
    arr, kind = ssl_input(train, "signal")
    test_arr, _ = ssl_input(test, "signal")
    mean, std = arr.mean(), arr.std()
    start = time.perf_counter()
    model = train_encoder(standardise(arr, kind), kind, SSLOptions("signal", steps=steps),
                          seed, checkpoint)  # fmt: skip
    seconds = time.perf_counter() - start
    test_std = ((test_arr - mean) / max(std, 1e-6)).astype(np.float32)
    return embed_with(model, standardise(arr, kind)), embed_with(model, test_std), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    task = load_task("mnist1d", n_train=args.n_train, seed=args.seed)
    mean, std = task.x_train.mean(), task.x_train.std()
    rows = [("raw signals (standardised)", (task.x_train - mean) / std,
             (task.x_test - mean) / std, 0.0)]  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        for name, steps in (("untrained encoder (random features)", 0),
                            (f"SSL encoder, {args.steps} steps", args.steps)):  # fmt: skip
            train, test, seconds = encode(
                task.x_train, task.x_test, steps, args.seed, Path(scratch) / "ckpt.pt"
            )
            rows.append((name, train, test, seconds))
    print(f"MNIST-1D: {len(task.x_train):,} training, {len(task.x_test):,} test examples; "
          f"seed {args.seed}")  # fmt: skip
    print(f"{'representation':38s} {'dims':>5s} {'train s':>8s} {'linear':>7s} {'10-NN':>7s}")
    for name, train, test, seconds in rows:
        linear, knn = probes(train, task.y_train, test, task.y_test)
        print(f"{name:38s} {train.shape[1]:5d} {seconds:8.1f} {linear:7.1%} {knn:7.1%}")


if __name__ == "__main__":
    main()
