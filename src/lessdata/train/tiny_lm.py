"""A tiny byte-level GPT: train it on a corpus, then measure how surprising other text is.

The model is nanoGPT-style and small enough to train on a laptop CPU in a minute: the 256
UTF-8 bytes plus one end-of-document token (:data:`EOT`) form a vocabulary of 257; token and
learned position embeddings feed pre-LayerNorm blocks of causal self-attention
(``scaled_dot_product_attention`` with ``is_causal=True``) and a GELU MLP; the output head
shares the token embedding's weights.

A corpus becomes one token stream by :func:`encode`: the UTF-8 bytes of each document,
each followed by ``EOT``. Three entry points use it:

:func:`train_tiny_lm`
    Train for a **fixed token budget** (``config.tokens``), whatever the corpus size: each
    step reads ``batch_size`` windows of ``context + 1`` tokens at seeded random offsets of
    the training stream. A small subset is therefore seen for many epochs and a large one
    for fewer, and every subset gets the same compute (the scaling lab's fixed-step rule).
:func:`heldout_bits_per_byte`
    Mean next-token loss, in bits, over a held-out stream (8 bits/byte = a uniform guess
    over bytes).
:func:`document_losses`
    Mean loss in nats per byte of each document: the perplexity metric's score.

Everything is a function of ``config.seed`` on CPU (given the same torch build and thread
count). The global torch random state is left as it was.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
import torch.nn.functional as F
from torch import nn

from lessdata.checks import check_int
from lessdata.errors import LessdataError
from lessdata.progress import log, track
from lessdata.train.gpt_block import CausalBlock

#: the end-of-document token; tokens 0..255 are bytes
EOT = 256
#: vocabulary size: 256 bytes + EOT
VOCAB = 257
#: the learning rate decays (cosine) to this fraction of ``lr``
MIN_LR_FRACTION = 0.1
#: gradient-norm clip
GRAD_CLIP = 1.0

__all__ = [
    "EOT",
    "VOCAB",
    "TinyLM",
    "TinyLMConfig",
    "TrainedLM",
    "decode",
    "document_losses",
    "encode",
    "heldout_bits_per_byte",
    "train_tiny_lm",
]


@dataclass
class TinyLMConfig:
    """The tiny LM's shape and its training recipe.

    The default (2 layers × 4 heads × 128 wide, context 128: 0.44M parameters) was chosen
    by measurement on Python standard-library code, 2 CPU threads, at equal token budgets
    (held-out bits/byte; training seconds):

    ====================  =======  ===============  ===============
    layers × width, ctx   params   1M tokens        2M tokens
    ====================  =======  ===============  ===============
    4 × 128, 256          0.85M    3.37 (≈200 s)    --
    2 × 64, 256           0.13M    3.33 (57 s)      --
    2 × 64, 128           0.12M    2.99 (15 s)      --
    3 × 96, 128           0.37M    2.76 (36 s)      --
    **2 × 128, 128**      0.44M    **2.56 (34 s)**  **2.08 (63 s)**
    4 × 128, 128          0.84M    2.60 (65 s)      2.11 (132 s)
    ====================  =======  ===============  ===============

    At these budgets the number of optimizer steps matters more than the context (context
    128 gives twice the steps of 256 for the same tokens), and two layers learn as fast per
    token as four at half the cost. Timings are from a shared machine and only indicative;
    ``benchmarks/bench_tiny_lm.py`` measures throughput against a matmul baseline.

    Attributes:
        n_layer: transformer blocks.
        n_head: attention heads per block; must divide ``d_model``.
        d_model: embedding width.
        context: tokens the model sees at once (and the number of position embeddings).
        batch_size: windows per optimizer step.
        lr: AdamW peak learning rate.
        weight_decay: AdamW decoupled weight decay, applied to matrices and embeddings only.
        warmup: fraction of the steps spent warming the learning rate up linearly from 0;
            it then decays along a cosine to 10% of ``lr``.
        tokens: the training budget in tokens;
            ``steps = ceil(tokens / (batch_size * context))``.
        seed: seeds the initialisation and the training windows.
    """

    n_layer: int = 2
    n_head: int = 4
    d_model: int = 128
    context: int = 128
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 0.1
    warmup: float = 0.05
    tokens: int = 1_000_000
    seed: int = 0

    @property
    def steps(self) -> int:
        """Optimizer steps that spend the token budget."""
        return math.ceil(self.tokens / (self.batch_size * self.context))

    def check(self) -> TinyLMConfig:
        """Raise :class:`LessdataError` for an unusable setting; return self."""
        for name in ("n_layer", "n_head", "d_model", "context", "batch_size", "tokens"):
            check_int(getattr(self, name), name, low=1)
        if self.d_model % self.n_head:
            raise LessdataError(
                f"n_head ({self.n_head}) must divide d_model ({self.d_model}); "
                "pick e.g. d_model = 32 × n_head"
            )
        if not _is_number(self.lr) or self.lr <= 0:
            raise LessdataError(f"lr must be a positive number, got {self.lr!r}")
        if not _is_number(self.weight_decay) or self.weight_decay < 0:
            raise LessdataError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not _is_number(self.warmup) or not 0 <= self.warmup < 1:
            raise LessdataError(f"warmup is a fraction of the steps in [0, 1), got {self.warmup!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise LessdataError(f"seed must be a whole number, got {self.seed!r}")
        return self


def _is_number(value: Any) -> bool:
    """True for a finite real number (not a bool)."""
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float, np.integer, np.floating))
        and math.isfinite(value)
    )


# ---------------------------------------------------------------------------------------------
# tokens


def _arrow_strings(texts: pa.Array | pa.ChunkedArray) -> Iterator[pa.Array]:
    """The chunks of an Arrow string column as (large_)string arrays without nulls."""
    chunks = texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]
    for chunk in chunks:
        if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
            raise LessdataError(f"texts must be strings, got an Arrow column of {chunk.type}")
        yield pc.fill_null(chunk, "") if chunk.null_count else chunk


def _bytes_and_lengths(texts: Any) -> tuple[np.ndarray, np.ndarray]:
    """All documents' UTF-8 bytes concatenated (uint8) and each document's byte length."""
    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        datas, lengths = [], []
        for chunk in _arrow_strings(texts):
            width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
            offsets = np.frombuffer(chunk.buffers()[1], dtype=width)
            offsets = offsets[chunk.offset : chunk.offset + len(chunk) + 1].astype(np.int64)
            data = chunk.buffers()[2]
            raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, np.uint8)
            datas.append(raw[offsets[0] : offsets[-1]])
            lengths.append(np.diff(offsets))
        if not datas:
            return np.empty(0, np.uint8), np.empty(0, np.int64)
        return np.concatenate(datas), np.concatenate(lengths)
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
        raise LessdataError(
            f"texts must be a list of strings or an Arrow string array, got {type(texts).__name__}"
        )
    try:
        encoded = [t.encode("utf-8") for t in texts]
    except AttributeError:
        bad = next(type(t).__name__ for t in texts if not isinstance(t, str))
        raise LessdataError(f"texts must all be strings, found a {bad}") from None
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), lengths


def encode(texts: Any) -> np.ndarray:
    """Tokenise documents into one uint16 stream: each document's UTF-8 bytes, then :data:`EOT`.

    ``texts`` is a list of strings or an Arrow string array (null = empty). The bytes are
    concatenated once and the EOT separators scattered in with NumPy, with no loop over bytes.

    >>> encode(["hi", "é"]).tolist()
    [104, 105, 256, 195, 169, 256]
    """
    data, lengths = _bytes_and_lengths(texts)
    return _with_separators(data, lengths)


def _with_separators(data: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Interleave EOT after each document of ``data`` (documents of the given lengths)."""
    n = len(lengths)
    stream = np.empty(len(data) + n, dtype=np.uint16)
    eot_at = np.cumsum(lengths) + np.arange(n)  # document i ends before position ends_i + i
    is_byte = np.ones(len(stream), dtype=bool)
    is_byte[eot_at] = False
    stream[is_byte] = data
    stream[eot_at] = EOT
    return stream


def decode(tokens: np.ndarray) -> list[str]:
    """Split a token stream at :data:`EOT` back into documents (inverse of :func:`encode`).

    Bytes that are not valid UTF-8 (a model's sample, say) decode with replacement characters.
    A trailing run of bytes without a closing EOT is returned as a last document.
    """
    tokens = np.asarray(tokens)
    ends = np.flatnonzero(tokens == EOT)
    starts = np.concatenate(([0], ends + 1))
    stops = np.concatenate((ends, [len(tokens)]))
    docs = [
        tokens[a:b].astype(np.uint8).tobytes().decode("utf-8", errors="replace")
        for a, b in zip(starts, stops, strict=True)
    ]
    if stops[-1] == starts[-1]:  # nothing after the last EOT
        docs.pop()
    return docs


# ---------------------------------------------------------------------------------------------
# the model


class TinyLM(nn.Module):
    """A byte-level GPT over :data:`VOCAB` tokens; ``forward(idx)`` returns next-token logits.

    Build it with :func:`train_tiny_lm`, or directly (``TinyLM(TinyLMConfig())``) under your
    own ``torch.manual_seed``.
    """

    def __init__(self, config: TinyLMConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(VOCAB, config.d_model)
        self.pos_emb = nn.Embedding(config.context, config.d_model)
        self.blocks = nn.ModuleList(
            CausalBlock(config.d_model, config.n_head, bias=False) for _ in range(config.n_layer)
        )
        self.ln_f = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, VOCAB, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying
        self._init_weights()

    def _init_weights(self) -> None:
        """GPT-2 initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 n_layer)."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for block in self.blocks:
            nn.init.normal_(block.proj.weight, mean=0.0, std=residual_std)
            nn.init.normal_(block.fc_out.weight, mean=0.0, std=residual_std)

    def n_params(self) -> int:
        """Number of parameters (the tied head counted once)."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, VOCAB) of the token after each position of ``idx`` (B, T ≤ context)."""
        t = idx.shape[1]
        if t > self.config.context:
            raise ValueError(f"sequence of {t} tokens exceeds the context {self.config.context}")
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


# ---------------------------------------------------------------------------------------------
# training


@dataclass
class TrainedLM:
    """A trained tiny LM and how its training went.

    Attributes:
        model: the trained model (in eval mode).
        config: the configuration actually used (``context`` may have been shrunk to fit a
            very short training stream; see :func:`train_tiny_lm`).
        history: ``(tokens seen, held-out bits per byte)`` at each evaluation point.
        train_seconds: wall time of the optimizer steps (evaluations excluded).
        tokens_per_second: training tokens per second of ``train_seconds``.
        steps: optimizer steps taken.
    """

    model: TinyLM
    config: TinyLMConfig
    history: list[tuple[int, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    tokens_per_second: float = 0.0
    steps: int = 0


def _learning_rate(step: int, steps: int, config: TinyLMConfig) -> float:
    """Linear warmup over ``warmup × steps`` steps, then cosine decay to 10% of ``lr``."""
    warmup_steps = round(config.warmup * steps)
    if step < warmup_steps:
        return config.lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, steps - warmup_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return config.lr * (MIN_LR_FRACTION + (1.0 - MIN_LR_FRACTION) * cosine)


def _optimizer(model: TinyLM, config: TinyLMConfig) -> torch.optim.AdamW:
    """AdamW that decays matrices and embeddings, not LayerNorm gains and biases."""
    params = list(model.parameters())  # shared (tied) weights appear once
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.95))


def _eval_steps(steps: int, eval_points: int) -> list[int]:
    """Steps after which to evaluate: ``eval_points`` evenly spaced over [0, steps].

    One point is the end; two or more include the untrained model (step 0) and the end.
    """
    if eval_points <= 0:
        return []
    if eval_points == 1:
        return [steps]
    return sorted({round(s) for s in np.linspace(0, steps, eval_points)})


def _fit_context(config: TinyLMConfig, n_tokens: int) -> TinyLMConfig:
    """Shrink ``context`` when the training stream is too short for one window of context+1."""
    if n_tokens > config.context:
        return config
    log(
        f"tiny LM: the training text is only {n_tokens} tokens, shorter than context + 1 = "
        f"{config.context + 1}; training with context {n_tokens - 1}"
    )
    return replace(config, context=n_tokens - 1)


def train_tiny_lm(
    train_texts: Any,
    config: TinyLMConfig | None = None,
    *,
    eval_texts: Any = None,
    eval_points: int = 0,
    eval_tokens: int | None = None,
) -> TrainedLM:
    """Train a :class:`TinyLM` on ``train_texts`` for a fixed budget of ``config.tokens`` tokens.

    Each of the ``ceil(tokens / (batch_size × context))`` steps draws ``batch_size`` windows
    of ``context + 1`` tokens at seeded random offsets of the encoded training stream (with
    replacement), so the compute does not depend on the corpus size: a small subset is seen
    for many epochs, a large one for part of one. AdamW, linear warmup then cosine decay to
    10% of ``lr``, gradients clipped to norm 1.

    When the training stream is shorter than ``context + 1`` tokens, ``context`` is shrunk
    to fit (with a log line); the returned ``config`` says what was used.

    Args:
        train_texts: documents, as a list of strings or an Arrow string array.
        config: the model and recipe (default :class:`TinyLMConfig`).
        eval_texts: held-out documents for the learning curve.
        eval_points: evaluate held-out bits per byte at this many evenly spaced points,
            the end included (and the untrained model, for two or more points).
        eval_tokens: evaluate on at most this many held-out tokens (the stream's first).

    Example:
        >>> run = train_tiny_lm(["def f(x):\\n    return x\\n"] * 50,
        ...                     TinyLMConfig(n_layer=1, d_model=32, context=32, tokens=20_000))
        >>> run.steps
        40
    """
    config = (config or TinyLMConfig()).check()
    eval_points = _check_eval(eval_texts, eval_points, eval_tokens)
    stream = encode(train_texts)
    if int((stream != EOT).sum()) == 0:
        raise LessdataError("the training texts are empty: give at least one non-empty document")
    config = _fit_context(config, len(stream))
    held_out = encode(eval_texts) if eval_points else None
    if held_out is not None and len(held_out) < 2:
        raise LessdataError("eval_texts are empty: give at least one non-empty held-out document")

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = TinyLM(config)
    optimizer = _optimizer(model, config)
    rng = np.random.default_rng(config.seed)
    steps = config.steps
    due = _eval_steps(steps, eval_points)
    history: list[tuple[int, float]] = []
    tokens_per_step = config.batch_size * config.context
    window = np.arange(config.context + 1)

    def evaluate(step: int) -> None:
        if due and step == due[0]:
            due.pop(0)
            bits = _stream_bits(model, held_out, max_tokens=eval_tokens, batch_size=32)
            history.append((step * tokens_per_step, bits))
            model.train()

    seconds = 0.0
    model.train()
    evaluate(0)
    for step in track(range(steps), steps, "tiny LM: training"):
        start = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step, steps, config)
        offsets = rng.integers(0, len(stream) - config.context, size=config.batch_size)
        batch = torch.from_numpy(stream[offsets[:, None] + window].astype(np.int64))
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), batch[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        optimizer.step()
        seconds += time.perf_counter() - start
        evaluate(step + 1)
    model.eval()
    return TrainedLM(
        model=model,
        config=config,
        history=history,
        train_seconds=seconds,
        tokens_per_second=steps * tokens_per_step / seconds if seconds > 0 else 0.0,
        steps=steps,
    )


def _check_eval(eval_texts: Any, eval_points: Any, eval_tokens: Any) -> int:
    """Validate the learning-curve options; return ``eval_points``."""
    if isinstance(eval_points, bool) or not isinstance(eval_points, (int, np.integer)):
        raise LessdataError(f"eval_points must be a whole number, got {eval_points!r}")
    if eval_points < 0:
        raise LessdataError(f"eval_points must be >= 0, got {eval_points}")
    if eval_points and eval_texts is None:
        raise LessdataError("eval_points > 0 needs eval_texts: give held-out documents")
    if eval_tokens is not None:
        check_int(eval_tokens, "eval_tokens", low=1)
    return int(eval_points)


# ---------------------------------------------------------------------------------------------
# evaluation


def heldout_bits_per_byte(
    model: TinyLM, texts: Any, *, max_tokens: int | None = None, batch_size: int = 32
) -> float:
    """Mean next-token loss, in bits, of ``model`` over the encoded stream of ``texts``.

    The stream is cut into non-overlapping windows of ``context`` predictions (stride =
    context; the first token of each window is predicted from that window's start only).
    EOT tokens count as tokens, so this is bits per byte with each document end counted as
    one more byte. ``max_tokens`` evaluates only the first ``max_tokens`` predictions
    (deterministic). 8.0 is a uniform guess over the 256 bytes.
    """
    if max_tokens is not None:
        check_int(max_tokens, "max_tokens", low=1)
    check_int(batch_size, "batch_size", low=1)
    return _stream_bits(model, encode(texts), max_tokens=max_tokens, batch_size=batch_size)


def _stream_bits(
    model: TinyLM, stream: np.ndarray | None, *, max_tokens: int | None, batch_size: int
) -> float:
    """:func:`heldout_bits_per_byte` of an encoded stream."""
    assert stream is not None
    if max_tokens is not None:
        stream = stream[: max_tokens + 1]
    if len(stream) < 2:
        raise LessdataError("the held-out text is empty: give at least one non-empty document")
    context = model.config.context
    n_pred = len(stream) - 1
    total = 0.0
    model.eval()
    with torch.no_grad():
        for a in range(0, n_pred, batch_size * context):  # whole windows, the last may be short
            b = min(a + batch_size * context, n_pred)
            rows, tail = divmod(b - a, context)
            if rows:
                total += _loss_sum(model, stream[a : a + rows * context + 1], rows)
            if tail:
                total += _loss_sum(model, stream[b - tail : b + 1], 1)
    return total / n_pred / math.log(2)


def _loss_sum(model: TinyLM, tokens: np.ndarray, rows: int) -> float:
    """Summed cross-entropy (nats) of next-token prediction over ``rows`` equal windows.

    ``tokens`` holds ``rows × T + 1`` tokens; window i predicts ``tokens[iT+1 : (i+1)T+1]``.
    """
    t = torch.from_numpy(tokens.astype(np.int64))
    x, y = t[:-1].view(rows, -1), t[1:].view(rows, -1)
    logits = model(x)
    return float(F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1), reduction="sum"))


def document_losses(model: TinyLM, texts: Any, *, batch_size: int = 32) -> np.ndarray:
    """Mean loss in nats per byte of each document under ``model``: shape (n,), float64.

    Each document is scored as it appears in the training stream: preceded by EOT, its
    ``L`` bytes and its closing EOT are the ``L + 1`` predictions averaged (so an empty
    document gets the loss of its EOT prediction, never NaN). A document longer than the
    context is cut into consecutive windows of at most ``context`` predictions; each window
    sees only its own tokens. Windows are batched by length (longest first, about
    ``batch_size × context`` tokens per batch), so short documents are cheap.
    """
    check_int(batch_size, "batch_size", low=1)
    data, lengths = _bytes_and_lengths(texts)
    n = len(lengths)
    if n == 0:
        return np.empty(0, dtype=np.float64)
    # [EOT] + doc_0 + EOT + doc_1 + EOT ...: document i's tokens start at its leading EOT
    stream = np.concatenate(([EOT], _with_separators(data, lengths))).astype(np.uint16)
    doc_start = np.concatenate(([0], np.cumsum(lengths[:-1] + 1)))
    n_pred = lengths + 1
    context = model.config.context
    # windows: document, first prediction's stream position, number of predictions
    per_doc = -(-n_pred // context)
    win_doc = np.repeat(np.arange(n), per_doc)
    first = np.arange(len(win_doc)) - np.repeat(np.cumsum(per_doc) - per_doc, per_doc)
    win_start = doc_start[win_doc] + first * context
    win_len = np.minimum(context, n_pred[win_doc] - first * context)
    order = np.argsort(-win_len, kind="stable")
    sums = np.zeros(len(win_doc), dtype=np.float64)
    budget = batch_size * context
    batches = list(_length_batches(win_len[order], budget))
    model.eval()
    with torch.no_grad():
        for a, b in track(batches, len(batches), "tiny LM: scoring documents"):
            rows = order[a:b]
            width = int(win_len[rows[0]])
            idx = win_start[rows][:, None] + np.arange(width + 1)
            valid = np.arange(width)[None, :] < win_len[rows][:, None]
            chunk = torch.from_numpy(stream[np.minimum(idx, len(stream) - 1)].astype(np.int64))
            targets = chunk[:, 1:].masked_fill(~torch.from_numpy(valid), -100)
            logits = model(chunk[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), reduction="none")
            sums[rows] = loss.view(len(rows), width).sum(dim=1).double().numpy()
    return np.bincount(win_doc, weights=sums, minlength=n) / n_pred


def _length_batches(lengths: np.ndarray, budget: int) -> Iterator[tuple[int, int]]:
    """Split rows sorted by decreasing length into ``[a, b)`` batches of ≤ ``budget`` tokens."""
    a = 0
    while a < len(lengths):
        rows = max(1, budget // int(lengths[a]))
        yield a, min(a + rows, len(lengths))
        a += rows
