"""DSIR: hashed n-gram importance weights toward a target sample, and resampling with them."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lessdata
from lessdata.errors import LessdataError
from lessdata.metrics import REGISTRY, ScoreInputs
from lessdata.metrics.importance import dsir_weights
from lessdata.select import select

MAIL = [
    "email.message",
    "email.utils",
    "email.header",
    "email._header_value_parser",
    "email.feedparser",
    "email.generator",
    "email.headerregistry",
    "smtplib",
    "imaplib",
    "poplib",
    "mailbox",
]
OTHER = [
    "argparse",
    "textwrap",
    "csv",
    "shlex",
    "difflib",
    "configparser",
    "pathlib",
    "logging",
    "collections",
    "functools",
    "dataclasses",
    "pprint",
    "calendar",
    "statistics",
    "fractions",
    "zipfile",
    "tarfile",
    "shutil",
    "threading",
    "ipaddress",
]


def _functions(module_names: list[str]) -> list[str]:
    """The source of every function of 200+ characters in the named stdlib modules."""
    out = []
    for name in module_names:
        source = inspect.getsource(importlib.import_module(name))
        lines = source.split("\n")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef):
                segment = "\n".join(lines[node.lineno - 1 : node.end_lineno])
                if len(segment) >= 200:
                    out.append(segment)
    return out


@pytest.fixture(scope="module")
def mixture():
    """A pool of 300 stdlib functions, 30% from the mail modules, and a separate target
    sample of 60 mail functions."""
    rng = np.random.default_rng(0)
    mail, other = _functions(MAIL), _functions(OTHER)
    rng.shuffle(mail)
    rng.shuffle(other)
    target, pos, neg = mail[:60], mail[60:150], other[:210]
    return pos + neg, np.array([True] * len(pos) + [False] * len(neg)), target


def test_target_like_documents_weigh_more_and_are_resampled(mixture):
    texts, is_target_like, target = mixture
    assert is_target_like.mean() == pytest.approx(0.3)
    weights = dsir_weights(texts, target)
    assert weights.dtype == np.float64 and weights.shape == (len(texts),)
    assert weights[is_target_like].mean() > weights[~is_target_like].mean() + 10
    for seed in range(3):
        kept = select(weights, 30, policy="importance", seed=seed)
        assert is_target_like[kept].mean() > 0.8, seed
    # the paper's (unnormalised) weights also rank target-like documents higher
    raw = dsir_weights(texts, target, normalize="none")
    assert raw[is_target_like].mean() > raw[~is_target_like].mean()
    assert is_target_like[select(raw, 30, policy="importance", seed=0)].mean() > 0.7


def test_weights_are_deterministic(mixture):
    texts, _, target = mixture
    first, second = dsir_weights(texts, target), dsir_weights(list(texts), list(target))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(
        select(first, 30, policy="importance", seed=7),
        select(second, 30, policy="importance", seed=7),
    )
    from_arrow = dsir_weights(pa.chunked_array([texts[:100], texts[100:]]), pa.array(target))
    np.testing.assert_allclose(from_arrow, first)


def test_weights_by_hand():
    """Unigrams, buckets large enough that the three words do not collide: the log weight is
    sum_f count_f (log p_target(f) - log p_raw(f)) with add-one smoothing."""
    b = 2**20
    texts, target = ["a a b", "c", "..."], ["A"]
    raw = dsir_weights(texts, target, buckets=b, ngram=1, normalize="none")
    # raw counts: a 2, b 1, c 1, "..." 1 (total 5); target: a 1 (total 1)
    log_t = {"a": math.log(2 / (1 + b)), "other": math.log(1 / (1 + b))}
    log_r = {"a": math.log(3 / (5 + b)), "b": math.log(2 / (5 + b))}
    ratio_a = log_t["a"] - log_r["a"]
    ratio_b = log_t["other"] - log_r["b"]  # b, c and "..." all have raw count 1
    assert raw == pytest.approx([2 * ratio_a + ratio_b, ratio_b, ratio_b])
    # length-normalised: mean per n-gram times the median n-gram count (of 3, 1, 1: one)
    normalised = dsir_weights(texts, target, buckets=b, ngram=1)
    assert normalised == pytest.approx([(2 * ratio_a + ratio_b) / 3, ratio_b, ratio_b])
    # bigrams add features: "a a" and "a b" are in the raw corpus but not the target
    assert dsir_weights(texts, target, buckets=b, ngram=2, normalize="none")[0] < raw[0]


def test_empty_text_gets_a_neutral_weight():
    weights = dsir_weights(["", "def f(): pass", "hello world"], ["def g(): return 1"])
    assert weights[0] == 0.0 and weights[1] > weights[2]


dsir = REGISTRY["dsir"]  # the registry's view: ScoreInputs in, columns out


def test_user_errors():
    inputs = ScoreInputs(n=2, texts=pa.chunked_array([["x = 1", "y = 2"]]))
    with pytest.raises(LessdataError, match="target sample: pass `target`"):
        dsir(inputs)
    with pytest.raises(LessdataError, match="text column"):
        dsir(ScoreInputs(n=2), target=["x"])
    with pytest.raises(LessdataError, match="no words"):
        dsir(inputs, target=["", "  "])
    with pytest.raises(LessdataError, match="normalize"):
        dsir(inputs, target=["x"], normalize="sum")
    with pytest.raises(LessdataError, match="buckets"):
        dsir(inputs, target=["x"], buckets=1)
    with pytest.raises(LessdataError, match="ngram"):
        dsir(inputs, target=["x"], ngram=0)
    with pytest.raises(LessdataError, match="list of strings"):
        dsir(inputs, target=[1, 2])


def test_registry_and_score_integration(tmp_path, mixture):
    metric = REGISTRY["dsir"]
    assert metric.needs_text and not metric.needs_vectors
    assert set(metric.options) == {"target", "buckets", "ngram", "normalize"}
    texts, is_target_like, target = mixture
    path = tmp_path / "pool.parquet"
    pq.write_table(pa.table({"id": np.arange(len(texts)), "text": texts}), path)
    table = lessdata.score(path, "dsir", metric_options={"target": target})
    assert "dsir" in table.column_names
    scores = table.column("dsir").to_numpy()
    np.testing.assert_allclose(scores, dsir_weights(texts, target))
    assert scores[is_target_like].mean() > scores[~is_target_like].mean()


@pytest.mark.skipif(
    importlib.util.find_spec("lessdata.data.corpus") is None, reason="lessdata.data.corpus not yet"
)
def test_target_read_from_a_jsonl_path(tmp_path, mixture):
    texts, _, target = mixture
    path = tmp_path / "target.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in target), encoding="utf-8")
    inputs = ScoreInputs(n=len(texts), texts=pa.chunked_array([texts]))
    from_path = dsir(inputs, target=str(path))["dsir"]
    np.testing.assert_allclose(from_path, dsir_weights(texts, target))
