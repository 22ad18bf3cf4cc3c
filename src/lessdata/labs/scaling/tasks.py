"""Tasks for scaling sweeps: a training set to prune and a fixed held-out test set.

Built-in tasks (nothing is downloaded):

``mnist1d``
    Greydanus's MNIST-1D (10 classes, 40-sample 1-D signals), generated locally with the
    ``mnist1d`` package's templates and transform, so that any training size up to 100k
    and beyond is available. The test set is fixed (5,000 examples, generator seed 42, the
    package's default) whatever ``n_train`` and ``seed``; the training set is generated with
    seed ``10_000 + seed``. Both are standardised with the test set's mean and standard
    deviation, so changing ``n_train`` never changes the test inputs. Generated arrays are
    cached as ``.npz`` under ``$LESSDATA_CACHE/tasks`` (default ``~/.cache/lessdata/tasks``).
``digits``
    scikit-learn's 8×8 handwritten digits (1,797 examples, pixel values scaled to [0, 1]),
    split into train/test stratified by class with ``seed``; ``input_shape`` is ``(8, 8)``.

User data: any path :func:`lessdata.load` reads (``.npy``/``.npz``, Parquet, JSONL, CSV, a
Hugging Face folder), with vectors or texts (embedded with ``encoder``) and labels, split into
train/test by ``seed`` (``test_fraction``, stratified when every class has two examples), or
a separate ``test`` path.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lessdata.data.atomic import atomic_path
from lessdata.errors import LessdataError
from lessdata.extras import require
from lessdata.progress import log

BUILTIN_TASKS = ("mnist1d", "digits")
#: size and generator seed of MNIST-1D's fixed test set
MNIST1D_TEST_SIZE = 5000
MNIST1D_TEST_SEED = 42
#: the training set of ``seed`` s is generated with seed ``MNIST1D_TRAIN_SEED + s``
MNIST1D_TRAIN_SEED = 10_000
MNIST1D_DEFAULT_TRAIN = 10_000
_MNIST1D_VERSION = "v1"


@dataclass
class Task:
    """Training and test data for a sweep.

    Attributes:
        name: the task's name (``mnist1d``, ``digits`` or the path given).
        x_train: ``(N, D)`` float32 features of the training set (the set that is pruned).
        y_train: ``(N,)`` int64 class indices, or None for unlabelled data (hooks only).
        x_test, y_test: the fixed held-out evaluation set (None when a hook evaluates).
        input_shape: the shape of one example for the model (``(40,)``, ``(8, 8)``, ``(D,)``).
        n_classes: the number of classes (0 when unlabelled).
        ids_train: the training examples' ids in the source data (row numbers for
            built-ins); command hooks receive them in the subset manifest.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray | None
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    input_shape: tuple[int, ...]
    n_classes: int
    ids_train: np.ndarray | None = None

    @property
    def n_train(self) -> int:
        """The number of training examples."""
        return len(self.x_train)

    def fingerprint(self) -> str:
        """A content hash of the data (sha256 hex): changes whenever any array changes."""
        h = hashlib.sha256(b"lessdata-task-v1")
        for arr in (self.x_train, self.y_train, self.x_test, self.y_test):
            if arr is None:
                h.update(b"none")
                continue
            a = np.ascontiguousarray(arr)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(memoryview(a).cast("B"))
        h.update(repr(tuple(self.input_shape)).encode())
        return h.hexdigest()


def default_task_cache() -> Path:
    """Where generated task arrays are cached: ``$LESSDATA_CACHE/tasks``."""
    from lessdata.embed.cache import default_cache_dir

    return default_cache_dir() / "tasks"


def load_task(
    name: str | Path,
    *,
    n_train: int | None = None,
    seed: int = 0,
    label_column: str | None = None,
    test: str | Path | None = None,
    test_fraction: float = 0.2,
    encoder: str = "minilm",
    cache_dir: str | Path | None = None,
    **load_options: Any,
) -> Task:
    """Load a built-in task (``mnist1d``, ``digits``) or a dataset file as a :class:`Task`.

    Args:
        name: ``mnist1d``, ``digits`` (``builtin:`` prefix accepted) or a path that
            :func:`lessdata.load` reads.
        n_train: training examples to use. mnist1d generates exactly this many (default
            10,000); digits and user data keep a seeded random sample of their training split.
        seed: seeds the train/test split (digits, user data) or the generated training set
            (mnist1d; its test set never changes).
        label_column: the label column of user data (default: ``label``, ``y``, ...).
        test: a separate test file for user data (then nothing is split off).
        test_fraction: the share of user data / digits held out for testing.
        encoder: how user texts without vectors are embedded (see ``lessdata score``).
        cache_dir: where generated mnist1d arrays are cached (default ``$LESSDATA_CACHE/tasks``).
        **load_options: passed to :func:`lessdata.load` (``embedding_column``, ...).

    Example:
        >>> task = load_task("digits", seed=0)
        >>> task.x_train.shape[1], task.input_shape, task.n_classes
        (64, (8, 8), 10)
    """
    from lessdata.checks import check_float, check_int, check_seed

    check_int(n_train, "n_train", low=1, allow_none=True)
    check_seed(seed)
    check_float(test_fraction, "test_fraction", low=0, high=1, closed="neither")
    text = str(name)
    short = text.removeprefix("builtin:")
    if short == "mnist1d":
        return _mnist1d(n_train or MNIST1D_DEFAULT_TRAIN, seed, cache_dir)
    if short == "digits":
        return _digits(n_train, seed, test_fraction)
    path = Path(text)
    if not path.exists():
        raise LessdataError(
            f"task {text}: no such file; give mnist1d, digits or a dataset path",
            param="task",
        )
    return _user_task(
        path, n_train=n_train, seed=seed, label_column=label_column, test=test,
        test_fraction=test_fraction, encoder=encoder, **load_options,
    )  # fmt: skip


# --- mnist1d ---------------------------------------------------------------------------


def _mnist1d_raw(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unstandardised MNIST-1D signals and labels from generator seed ``seed``.

    Classes cycle (example i has class i mod 10) and the rows are then shuffled; mnist1d's
    transform draws from NumPy's global generator, whose state is restored afterwards.
    """
    require("mnist1d", "the mnist1d task", "labs")
    from mnist1d.data import get_dataset_args, get_templates
    from mnist1d.transform import transform

    args = get_dataset_args()
    templates = get_templates()
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        xs = np.empty((n, args.final_seq_length), dtype=np.float64)
        ys = np.arange(n, dtype=np.int64) % len(templates["y"])
        for i in range(n):
            label = int(ys[i])
            xs[i], _ = transform(templates["x"][label], templates["t"], args)
        order = np.random.permutation(n)
    finally:
        np.random.set_state(state)
    return xs[order], ys[order]


def _cached_arrays(path: Path, make: Any) -> dict[str, np.ndarray]:
    """Load the arrays cached at ``path``, or ``make()`` them and cache them atomically."""
    if path.exists():
        try:
            with np.load(path) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError):
            log(f"regenerating the corrupt cache file {path}")
    arrays = make()
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    except OSError as exc:  # an unwritable cache only costs time
        log(f"could not cache {path.name}: {exc}")
    return arrays


def _mnist1d(n_train: int, seed: int, cache_dir: str | Path | None) -> Task:
    root = Path(cache_dir) if cache_dir is not None else default_task_cache()
    test_file = (
        root / f"mnist1d-{_MNIST1D_VERSION}-test-s{MNIST1D_TEST_SEED}-n{MNIST1D_TEST_SIZE}.npz"
    )
    train_file = root / f"mnist1d-{_MNIST1D_VERSION}-train-s{seed}-n{n_train}.npz"

    def make_test() -> dict[str, np.ndarray]:
        log(f"generating the MNIST-1D test set ({MNIST1D_TEST_SIZE:,} examples)")
        x, y = _mnist1d_raw(MNIST1D_TEST_SIZE, MNIST1D_TEST_SEED)
        return {"x": x, "y": y}

    def make_train() -> dict[str, np.ndarray]:
        log(f"generating {n_train:,} MNIST-1D training examples (seed {seed})")
        x, y = _mnist1d_raw(n_train, MNIST1D_TRAIN_SEED + seed)
        return {"x": x, "y": y}

    test_raw = _cached_arrays(test_file, make_test)
    train_raw = _cached_arrays(train_file, make_train)
    mean, std = float(test_raw["x"].mean()), float(test_raw["x"].std())
    x_test = ((test_raw["x"] - mean) / std).astype(np.float32)
    x_train = ((train_raw["x"] - mean) / std).astype(np.float32)
    return Task(
        name="mnist1d",
        x_train=x_train,
        y_train=train_raw["y"].astype(np.int64),
        x_test=x_test,
        y_test=test_raw["y"].astype(np.int64),
        input_shape=(x_train.shape[1],),
        n_classes=10,
        ids_train=np.arange(n_train, dtype=np.int64),
    )


# --- digits and user data --------------------------------------------------------------


def _split(
    labels: np.ndarray | None, n: int, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices: stratified by class when every class has two members."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(n)
    n_test = max(1, round(test_fraction * n))
    if n - n_test < 1:
        raise LessdataError(f"{n} examples leave nothing to train on; lower `test_fraction`")
    stratify = None
    if labels is not None:
        present = np.bincount(labels)
        present = present[present > 0]
        if present.min() >= 2 and min(n_test, n - n_test) >= len(present):
            stratify = labels
    train, test = train_test_split(rows, test_size=n_test, random_state=seed, stratify=stratify)
    return np.sort(train), np.sort(test)


def _subsample(rows: np.ndarray, n_train: int | None, seed: int, where: str) -> np.ndarray:
    if n_train is None:
        return rows
    if n_train > len(rows):
        raise LessdataError(
            f"n_train {n_train} exceeds the {len(rows)} training examples of {where}",
            param="n_train",
        )
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(rows, size=n_train, replace=False))


def _digits(n_train: int | None, seed: int, test_fraction: float) -> Task:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    train, test = _split(y, len(x), test_fraction, seed)
    train = _subsample(train, n_train, seed, "digits")
    return Task(
        name="digits",
        x_train=x[train],
        y_train=y[train],
        x_test=x[test],
        y_test=y[test],
        input_shape=(8, 8),
        n_classes=10,
        ids_train=train.astype(np.int64),
    )


def _vectors_and_labels(
    path: Path, label_column: str | None, encoder: str, **load_options: Any
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray]:
    """Features, integer labels, the label values and the ids of a dataset file."""
    from lessdata.data.dataset import load
    from lessdata.pipeline.inputs import vectors_of

    ds = load(path, label_column=label_column, **load_options)
    vectors = np.asarray(vectors_of(ds, encoder=encoder), dtype=np.float32)
    vectors = vectors.reshape(len(vectors), -1)
    ids = ds.ids.to_numpy(zero_copy_only=False)
    return vectors, ds.labels, ds.classes, ids


def _user_task(
    path: Path,
    *,
    n_train: int | None,
    seed: int,
    label_column: str | None,
    test: str | Path | None,
    test_fraction: float,
    encoder: str,
    **load_options: Any,
) -> Task:
    x, labels, classes, ids = _vectors_and_labels(path, label_column, encoder, **load_options)
    if test is None:
        train, held = _split(labels, len(x), test_fraction, seed)
        x_test = x[held]
        y_test = None if labels is None else labels[held]
    else:
        test_path = Path(test)
        if not test_path.exists():
            raise LessdataError(f"test {test_path}: no such file or directory", param="test")
        x_test, test_labels, test_classes, _ = _vectors_and_labels(
            test_path, label_column, encoder, **load_options
        )
        if x_test.shape[1] != x.shape[1]:
            raise LessdataError(
                f"test {test_path} has {x_test.shape[1]} features per example, "
                f"the training data {x.shape[1]}",
                param="test",
            )
        if (labels is None) != (test_labels is None):
            raise LessdataError("label the training and the test data alike (or neither)")
        if labels is not None:
            assert classes is not None and test_classes is not None
            union = np.unique(np.concatenate([classes, test_classes]))
            labels = np.searchsorted(union, classes)[labels].astype(np.int64)
            test_labels = np.searchsorted(union, test_classes)[test_labels].astype(np.int64)
            classes = union
        y_test = test_labels
        train = np.arange(len(x))
    train = _subsample(train, n_train, seed, str(path))
    return Task(
        name=str(path),
        x_train=np.ascontiguousarray(x[train]),
        y_train=None if labels is None else labels[train].astype(np.int64),
        x_test=np.ascontiguousarray(x_test),
        y_test=None if y_test is None else np.asarray(y_test, dtype=np.int64),
        input_shape=(x.shape[1],),
        n_classes=0 if classes is None else len(classes),
        ids_train=ids[train],
    )
