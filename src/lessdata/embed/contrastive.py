"""Self-supervised embeddings of the user's own data: SimCLR (InfoNCE) on the CPU.

Sorscher et al. (2022) prune ImageNet by k-means distance in a *self-supervised* embedding
(SwAV), which is about as good as the best supervised metrics; on raw inputs the same metric
mostly measures pixel or sample distances. :func:`ssl` trains a small encoder on the data it
is asked to embed, with no labels, by SimCLR's objective (Chen et al. 2020): two random
augmentations of each example are pulled together and pushed away from the other examples
of the batch (NT-Xent, temperature 0.2). The augmentations fit the input:

* ``signal`` (``(N, L)`` 1-D signals such as MNIST-1D): a random crop of 70–100% of the
  signal stretched back to full length (shift and time scale), amplitude scaling, Gaussian
  noise and a masked window; a 1-D CNN with global average and max pooling.
* ``vectors`` (``(N, d)`` feature vectors whose dimensions have no order): noise, feature
  dropout and scaling; an MLP.
* ``image`` (``(N, H, W)`` or ``(N, H, W, C)`` arrays, or a folder of image files): a
  random resized crop (60–100% of the side), horizontal flip, brightness, contrast and
  per-channel colour jitter, noise; a small 2-D CNN.

The embedding is the encoder's output before the projection head (as in SimCLR), L2
normalised. Training is seeded (same data, settings and seed: the same embedding), shows a
progress bar, checkpoints every 200 steps under ``<cache>/work`` (``torch.load`` with
``weights_only=True``: tensors and plain containers only, never code) and resumes from there
after a kill, and the result is cached under ``<cache>/embeddings`` keyed by the data's
content and every setting.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lessdata.checks import check_int, check_seed
from lessdata.data.atomic import atomic_path
from lessdata.data.cache_dir import default_cache_dir
from lessdata.embed.ssl_options import SSLOptions
from lessdata.errors import LessdataError
from lessdata.extras import require
from lessdata.progress import honours_quiet, log

_VERSION = "ssl-v1"


def ssl_input(data: np.ndarray, kind: str) -> tuple[np.ndarray, str]:
    """Check an array for SSL training and name its kind; images become ``(N, C, H, W)``."""
    arr = np.asarray(data)
    if arr.dtype.kind not in "fiub":
        raise LessdataError(f"SSL needs a numeric array, got {arr.dtype}", param="data")
    if arr.ndim not in (2, 3, 4):
        raise LessdataError(
            f"SSL takes (N, L) signals, (N, d) vectors or (N, H, W[, C]) images; got shape "
            f"{arr.shape}",
            param="data",
        )
    if len(arr) < 2 or arr[0].size == 0:
        raise LessdataError(f"SSL needs at least 2 non-empty examples, got shape {arr.shape}")
    if kind == "auto":
        kind = "image" if arr.ndim >= 3 else "vectors"
    if (kind == "image") != (arr.ndim >= 3):
        raise LessdataError(
            f"kind {kind!r} does not fit an array of shape {arr.shape}: images are (N, H, W) "
            "or (N, H, W, C); signals and vectors are (N, L)",
            param="kind",
        )
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        row = int(np.flatnonzero(~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1))[0])
        raise LessdataError(f"row {row} holds NaN or inf; drop or repair it first")
    if kind == "image":
        if arr.ndim == 3:
            arr = arr[:, None]
        elif arr.shape[-1] in (1, 3, 4) and arr.shape[1] not in (1, 3, 4):
            arr = arr.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
        if min(arr.shape[2:]) < 8:
            raise LessdataError(f"images must be at least 8×8 pixels, got {arr.shape[2:]}")
    return np.ascontiguousarray(arr), kind


def _key(arr: np.ndarray, kind: str, options: SSLOptions, seed: int) -> str:
    h = hashlib.sha256()
    settings = {**asdict(options), "kind": kind, "seed": seed, "version": _VERSION}
    h.update(json.dumps(settings, sort_keys=True).encode())
    h.update(json.dumps(arr.shape).encode())
    h.update(arr.tobytes())
    return h.hexdigest()


@honours_quiet
def ssl(
    data: np.ndarray | str | os.PathLike[str],
    *,
    kind: str = "auto",
    dim: int = 64,
    steps: int = 1_500,
    batch_size: int = 256,
    lr: float = 2e-3,
    temperature: float = 0.2,
    width: int = 64,
    image_size: int | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    quiet: bool = False,
) -> np.ndarray:
    """Embed ``data`` with an encoder trained on it by SimCLR; rows L2-normalised.

    Args:
        data: an ``(N, L)`` or ``(N, d)`` array, an ``(N, H, W[, C])`` image array, or a
            folder of image files (read with :func:`read_image_folder`; the rows follow its
            sorted file names).
        kind: ``signal``, ``vectors``, ``image`` or ``auto`` (see :class:`SSLOptions`).
        dim, steps, batch_size, lr, temperature, width: the training (:class:`SSLOptions`).
        image_size: side to which a folder's images are resized (default: their most
            common size, at most 64).
        seed: seeds the weights, the batches and the augmentations.
        cache_dir: where the result and the checkpoints are kept.
        quiet: no progress bar.

    Returns:
        ``(N, dim)`` float32 embeddings.

    Example:
        >>> import numpy as np
        >>> from lessdata.embed import ssl
        >>> x = np.random.default_rng(0).normal(size=(64, 20)).astype("float32")
        >>> ssl(x, kind="signal", steps=5, dim=8, cache_dir=None, quiet=True).shape
        (64, 8)
    """
    options = SSLOptions(kind, dim, steps, batch_size, lr, temperature, width).check()
    seed = check_seed(seed)
    if image_size is not None:
        check_int(image_size, "image_size", low=8, high=1024)
    if not isinstance(data, np.ndarray):
        data = read_image_folder(data, image_size).images
        if options.kind == "auto":
            options = SSLOptions(**{**asdict(options), "kind": "image"})
    arr, kind = ssl_input(data, options.kind)
    require("torch", "self-supervised embeddings (lessdata embed --method ssl)")
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = _key(arr, kind, options, seed)
    final = root / "embeddings" / f"{key}.npy"
    if final.is_file():
        try:
            cached = np.load(final, allow_pickle=False)
            if cached.shape == (len(arr), options.dim) and cached.dtype == np.float32:
                return cached
        except (ValueError, OSError, EOFError):
            pass
        log(f"SSL embedding cache {final} is unusable; training again")
    from lessdata.embed.ssl_training import embed_with, standardise, train_encoder

    data = standardise(arr, kind)
    model = train_encoder(data, kind, options, seed, root / "work" / f"ssl-{key[:24]}.pt")
    emb = embed_with(model, data)
    final.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(final) as tmp, open(tmp, "wb") as fh:
        np.save(fh, emb, allow_pickle=False)
    return emb


# --- image folders ------------------------------------------------------------------------

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass
class ImageFolder:
    """A folder's images as one array, and what could not be read."""

    ids: list[str]
    images: np.ndarray  # (N, H, W, C) float32 in [0, 1]
    skipped: dict[str, str]  # relative path -> why


def read_image_folder(folder: str | os.PathLike[str], size: int | None = None) -> ImageFolder:
    """Read every image file under ``folder`` (sorted by path), resized to ``size`` × ``size``.

    Images of other sizes are resized (not refused); unreadable or damaged files, files
    whose symlink leads out of the folder, and special files (FIFOs, devices) are skipped
    and listed in ``skipped``. Colour
    images stay RGB; the folder is greyscale only when every image is.
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(folder)
    if not root.is_dir():
        raise LessdataError(f"{root}: not a folder of images (or pass an array)", param="data")
    real_root = os.path.realpath(root)
    paths = sorted(
        p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir()
    )
    skipped: dict[str, str] = {}
    loaded: list[tuple[str, Any]] = []
    for path in paths:
        rel = path.relative_to(root).as_posix()
        if os.path.commonpath([os.path.realpath(path), real_root]) != real_root:
            skipped[rel] = "symlink out of the folder"
            continue
        if not path.is_file():  # a FIFO or device named like an image: never opened
            skipped[rel] = "not a regular file"
            continue
        try:
            with Image.open(path) as image:
                image.load()
                loaded.append((rel, image.copy()))
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            skipped[rel] = f"unreadable image ({str(exc)[:80]})"
    if skipped:
        shown = ", ".join(list(skipped)[:5]) + (", ..." if len(skipped) > 5 else "")
        log(f"skipped {len(skipped)} of {len(paths)} image files: {shown}")
    if len(loaded) < 2:
        raise LessdataError(
            f"{root}: {len(loaded)} readable images (of {len(paths)} files ending in "
            f"{', '.join(IMAGE_SUFFIXES)}); SSL needs at least 2"
        )
    if size is None:
        sizes = [im.size for _, im in loaded]
        common = max(set(sizes), key=sizes.count)
        size = min(64, max(8, min(common)))
    mode = "L" if all(im.mode in ("L", "1", "I;16", "I") for _, im in loaded) else "RGB"
    images = np.stack(
        [
            np.asarray(im.convert(mode).resize((size, size), Image.BILINEAR), dtype=np.float32)
            for _, im in loaded
        ]
    )
    if mode == "L":
        images = images[..., None]
    return ImageFolder([rel for rel, _ in loaded], images / 255.0, skipped)
