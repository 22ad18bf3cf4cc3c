"""The tiny byte-level LM (lessdata.train.tiny_lm) and the perplexity metric."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import math
import random
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F

import lessdata
from lessdata.errors import LessdataError
from lessdata.train.tiny_lm import (
    EOT,
    VOCAB,
    TinyLM,
    TinyLMConfig,
    decode,
    document_losses,
    encode,
    heldout_bits_per_byte,
    train_tiny_lm,
)

#: a model small enough that 200 steps take a few seconds on 2 CPU cores
SMALL = dict(n_layer=2, n_head=2, d_model=48, context=32, batch_size=8)


def _chunks(source: str, lines: int = 25) -> list[str]:
    """Cut source code into documents of ``lines`` lines."""
    rows = source.splitlines(keepends=True)
    return ["".join(rows[i : i + lines]) for i in range(0, len(rows), lines)]


@pytest.fixture(scope="module")
def code() -> tuple[list[str], list[str]]:
    """Real Python code: training documents (json, argparse) and held-out ones (dataclasses)."""
    train = _chunks(inspect.getsource(json.decoder) + inspect.getsource(argparse))
    held_out = _chunks(inspect.getsource(dataclasses))
    return train, held_out


@pytest.fixture(scope="module")
def trained(code):
    """A 200-step run of the small model with a 3-point learning curve."""
    train, held_out = code
    config = TinyLMConfig(**SMALL, tokens=200 * 8 * 32, seed=0)
    return train_tiny_lm(train, config, eval_texts=held_out, eval_points=3, eval_tokens=3000)


def test_encode_decode_round_trip_with_eot_separators():
    texts = ["héllo wörld", "", "x", "日本語 ✓", "tab\tnew\nline"]
    stream = encode(texts)
    assert stream.dtype == np.uint16
    assert len(stream) == sum(len(t.encode("utf-8")) for t in texts) + len(texts)
    eot = np.flatnonzero(stream == EOT)
    lengths = [len(t.encode("utf-8")) for t in texts]
    np.testing.assert_array_equal(eot, np.cumsum(lengths) + np.arange(len(texts)))
    assert stream.max() == EOT and stream[stream != EOT].max() < 256
    assert decode(stream) == texts
    # Arrow input (sliced, chunked, with nulls = empty) encodes like the Python list
    arrow = pa.chunked_array([pa.array(["zz", *texts[:3]]).slice(1), pa.array([None, *texts[3:]])])
    expected = [*texts[:3], "", *texts[3:]]
    np.testing.assert_array_equal(encode(arrow), encode(expected))
    large = pa.array(texts, type=pa.large_string())
    np.testing.assert_array_equal(encode(large), stream)


def test_training_lowers_held_out_loss(trained):
    assert trained.steps == 200
    assert [tokens for tokens, _ in trained.history] == [0, 100 * 8 * 32, 200 * 8 * 32]
    start, end = trained.history[0][1], trained.history[-1][1]
    assert abs(start - math.log2(VOCAB)) < 0.3  # untrained: close to a uniform guess
    assert end < 5.0, trained.history  # well below the uniform 8 bits/byte
    assert end < start - 2.5
    assert trained.tokens_per_second > 0 and trained.train_seconds > 0
    assert not trained.model.training


def test_training_is_deterministic_per_seed(code):
    train, held_out = code
    config = TinyLMConfig(**SMALL, tokens=20 * 8 * 32, seed=3)

    def run(cfg):
        return train_tiny_lm(train, cfg, eval_texts=held_out, eval_points=2, eval_tokens=500)

    a, b = run(config), run(config)
    c = run(dataclasses.replace(config, seed=4))
    assert a.history == b.history
    assert a.history != c.history
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)
    state = torch.random.get_rng_state()
    run(config)
    assert torch.equal(state, torch.random.get_rng_state())  # global torch RNG untouched


def test_fixed_token_budget_whatever_the_corpus_size(code):
    train, _ = code
    config = TinyLMConfig(n_layer=1, n_head=1, d_model=16, context=16, batch_size=4, tokens=300)
    expected = math.ceil(300 / (4 * 16))
    assert config.steps == expected
    small = train_tiny_lm(train[:1], config)
    big = train_tiny_lm(train, config)
    assert small.steps == big.steps == expected
    # a stream shorter than context + 1 shrinks the context to fit
    tiny = train_tiny_lm(["abcdef"], config)
    assert tiny.config.context == len(encode(["abcdef"])) - 1
    assert tiny.steps == math.ceil(300 / (4 * tiny.config.context))


def test_document_losses_rank_and_edge_cases(trained, code):
    model = trained.model
    train, _ = code
    original = train[3][:400]
    chars = list(original)
    random.Random(0).shuffle(chars)
    shuffled = "".join(chars)
    noise = np.random.default_rng(0).integers(32, 127, size=400).astype(np.uint8).tobytes()
    docs = [original, shuffled, noise.decode("ascii"), "", "a", train[5] * 3]
    losses = document_losses(model, docs, batch_size=4)
    assert losses.shape == (len(docs),) and losses.dtype == np.float64
    assert np.isfinite(losses).all() and (losses > 0).all()
    assert losses[0] < losses[1] - 0.5 and losses[0] < losses[2] - 0.5
    assert len(train[5] * 3) > 2 * model.config.context  # scored in several windows
    # each document's score does not depend on the batch it was scored in
    alone = np.array([document_losses(model, [d])[0] for d in docs])
    np.testing.assert_allclose(losses, alone, rtol=1e-5)
    assert document_losses(model, []).shape == (0,)


def test_document_losses_match_a_direct_computation(trained):
    """[EOT] + bytes + [EOT], cut into windows of `context` predictions, averaged per token."""
    model = trained.model
    context = model.config.context
    doc = "def f(x):\n    return x * 2  # a comment that runs past one window\n"
    tokens = torch.from_numpy(np.concatenate(([EOT], encode([doc]))).astype(np.int64))
    total = 0.0
    with torch.no_grad():
        for a in range(0, len(tokens) - 1, context):
            window = tokens[a : a + context + 1]
            logits = model(window[None, :-1])[0]
            total += float(F.cross_entropy(logits, window[1:], reduction="sum"))
    expected = total / (len(tokens) - 1)
    assert len(tokens) - 1 > context
    assert document_losses(model, [doc])[0] == pytest.approx(expected, rel=1e-5)
    # held-out bits/byte: the same windows over the stream (no leading EOT), in bits
    stream = tokens[1:]
    with torch.no_grad():
        window_sums = [
            float(F.cross_entropy(model(w[None, :-1])[0], w[1:], reduction="sum"))
            for w in (stream[a : a + context + 1] for a in range(0, len(stream) - 1, context))
        ]
    assert len(window_sums) >= 2 and (len(stream) - 1) % context  # full windows and a tail
    direct = sum(window_sums) / (len(stream) - 1) / math.log(2)
    assert heldout_bits_per_byte(model, [doc], batch_size=1) == pytest.approx(direct, rel=1e-5)
    first = window_sums[0] / context / math.log(2)
    assert heldout_bits_per_byte(model, [doc], max_tokens=context) == pytest.approx(first, rel=1e-5)


def test_perplexity_metric_scores_reference_like_documents_lower(tmp_path, code):
    train, held_out = code
    like = held_out[:8]
    rng = random.Random(1)
    unlike = ["".join(rng.choice("qxzjvkw0123456789 ") for _ in range(500)) for _ in range(4)]
    prose = [textwrap.fill("The committee met on Tuesday to discuss the budget. " * 8)] * 2
    path = tmp_path / "corpus.parquet"
    pq.write_table(pa.table({"text": like + unlike + prose}), path)
    table = lessdata.score(
        path, "perplexity", metric_options={"reference": train, "lm_tokens": 20_000}
    )
    scores = table.column("perplexity").to_numpy()
    assert scores.dtype == np.float64 and np.isfinite(scores).all()
    assert scores[: len(like)].max() < scores[len(like) : len(like) + 4].min()
    # without a reference, a seeded sample of the corpus is the reference; same seed, same scores
    options = {"lm_tokens": 5_000, "reference_fraction": 0.5}
    first = lessdata.score(path, "perplexity", metric_options=options, seed=7)
    again = lessdata.score(path, "perplexity", metric_options=options, seed=7)
    np.testing.assert_array_equal(first.column("perplexity"), again.column("perplexity"))


@pytest.mark.parametrize(
    "options, match",
    [
        ({"reference_fraction": 0.0}, "reference_fraction"),
        ({"reference_fraction": 1.5}, "reference_fraction"),
        ({"lm_tokens": 0}, "lm_tokens"),
        ({"lm_layers": 1.5}, "lm_layers"),
        ({"lm_width": 50}, "lm_width"),
        ({"reference": 3}, "reference"),
        ({"reference": ["", ""]}, "holds no text"),
    ],
)
def test_perplexity_bad_options_raise(tmp_path, options, match):
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps({"text": f"doc {i}"}) for i in range(5)))
    with pytest.raises(LessdataError, match=match):
        lessdata.score(path, "perplexity", metric_options=options)


def test_perplexity_needs_text(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((4, 3), dtype=np.float32))
    with pytest.raises(LessdataError, match="needs text"):
        lessdata.score(path, "perplexity")


def test_bad_training_inputs_raise():
    with pytest.raises(LessdataError, match="empty"):
        train_tiny_lm(["", ""])
    with pytest.raises(LessdataError, match="n_head"):
        train_tiny_lm(["abc"], TinyLMConfig(n_head=3, d_model=64))
    with pytest.raises(LessdataError, match="warmup"):
        train_tiny_lm(["abc"], TinyLMConfig(warmup=1.0))
    with pytest.raises(LessdataError, match="tokens"):
        train_tiny_lm(["abc"], TinyLMConfig(tokens=0))
    with pytest.raises(LessdataError, match="eval_texts"):
        train_tiny_lm(["abc"], eval_points=3)
    with pytest.raises(LessdataError, match="strings"):
        encode(["ok", 3])
    with pytest.raises(LessdataError, match="strings"):
        encode("not a list")
    model = TinyLM(TinyLMConfig(n_layer=1, n_head=1, d_model=16, context=8))
    with pytest.raises(LessdataError, match="empty"):
        heldout_bits_per_byte(model, [])
