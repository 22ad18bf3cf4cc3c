"""The ``classifier`` metric: DCLM's learned quality filter (target vs corpus)."""

from __future__ import annotations

import json
import random
import sysconfig
from pathlib import Path

import numpy as np
import pytest

import lessdata
from lessdata.errors import LessdataError
from lessdata.metrics import classifier_scores


def _stdlib(n: int) -> list[str]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return [p.read_text(errors="replace")[:3000] for p in sorted(root.glob("*.py"))[:n]]


def _prose(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words = (
        "the a of and to in is was he she it they we you this that with for on at "
        "people house garden river morning evening city country story music"
    ).split()
    return [" ".join(rng.choice(words) for _ in range(120)) + "." for _ in range(n)]


def test_target_like_documents_score_higher_and_accuracy_is_reported():
    code, prose = _stdlib(60), _prose(60)
    corpus = code[:40] + prose[:40]
    scores, notes = classifier_scores(corpus, code[40:], negatives=prose[40:])
    assert scores[:40].min() > scores[40:].max()  # every code file above every prose one
    assert notes["cv_accuracy"] > 0.95 and notes["positives"] == 20
    assert len(notes["cv_accuracy_per_fold"]) == notes["cv_folds"] == 5


def test_indistinguishable_target_has_chance_accuracy():
    prose = _prose(400, seed=1)
    _, notes = classifier_scores(prose[:200], prose[200:300], negatives=prose[300:])
    assert 0.3 < notes["cv_accuracy"] < 0.7  # visible: the filter learned nothing


def test_static_features_and_seeded_determinism():
    code, prose = _stdlib(30), _prose(30)
    corpus = code[:20] + prose[:20]
    a, notes = classifier_scores(corpus, code[20:], features="static", seed=3)
    b, _ = classifier_scores(corpus, code[20:], features="static", seed=3)
    np.testing.assert_array_equal(a, b)
    assert notes["features"] == "static"
    assert a[:20].mean() > a[20:].mean()


def test_prune_keep_hard_keeps_the_target_like_and_records_the_fit(tmp_path):
    code, prose = _stdlib(60), _prose(60)
    rows = [{"id": f"c{i}", "text": t} for i, t in enumerate(code[:40])]
    rows += [{"id": f"p{i}", "text": t} for i, t in enumerate(prose[:40])]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    target = tmp_path / "target.jsonl"
    target.write_text("".join(json.dumps({"text": t}) + "\n" for t in code[40:]))
    result = lessdata.prune(
        corpus, 0.5, metric="classifier", policy="keep-hard",
        metric_options={"target": str(target)}, out=tmp_path / "out",
    )  # fmt: skip
    kept_ids = set(result.manifest.column("id").to_numpy(zero_copy_only=False)[result.kept])
    assert kept_ids == {f"c{i}" for i in range(40)}
    meta = json.loads(result.manifest.schema.metadata[b"lessdata"])
    # the negatives are a sample of the corpus, half code itself: the fit is good, not perfect
    assert 0.7 < meta["metric_notes"]["classifier"]["cv_accuracy"] < 1.0


def test_bad_input_is_refused_before_work(tmp_path):
    corpus = _prose(20)
    with pytest.raises(LessdataError, match="target sample is empty"):
        classifier_scores(corpus, [])
    with pytest.raises(LessdataError, match="target sample is empty"):
        classifier_scores(corpus, ["   "])
    with pytest.raises(LessdataError, match="negative sample is empty"):
        classifier_scores(corpus, ["x y"], negatives=[])
    with pytest.raises(LessdataError, match="at least 2 target"):
        classifier_scores(corpus, ["only one"])
    with pytest.raises(LessdataError, match="features"):
        classifier_scores(corpus, corpus, features="bert")
    with pytest.raises(LessdataError, match="needs a target"):
        lessdata.score(corpus, ["classifier"])
    with pytest.raises(LessdataError, match="folds"):
        lessdata.score(corpus, ["classifier"], metric_options={"target": corpus, "folds": 1})
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(LessdataError):
        lessdata.score(corpus, ["classifier"], metric_options={"target": str(empty)})
