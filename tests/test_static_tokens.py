"""The static encoder's word-piece cache gives exactly the tokenizer's ids on plain ASCII."""

from __future__ import annotations

import numpy as np
import pytest

from lessdata.embed import get_encoder
from lessdata.embed import static_model as sm

TEXTS = [
    "def add(a, b):\n    return a + b\n",
    "x_y__z 12ab34 CamelCase snake_case_name __dunder__",
    "!!!...??? ## ### [CLS] [unk a-b/c\\d",
    "a" * 150 + " short " + "b" * 101 + " " + "c" * 100,  # over-long words are one [UNK]
    "tabs\tand\nnewlines\r\nmixed   spaces",
    "",
    "   ",
    "word " * 700,  # truncated at MAX_TOKENS
    "unbelievablyunrecognisablewordpieces antidisestablishmentarianism",
    "0x1F 3.14159 1e-10 -42 +7",
]


@pytest.fixture(scope="module")
def model():
    return sm._load(get_encoder("static").folder)


@pytest.mark.parametrize("split", [1, 3])
def test_plain_ascii_ids_are_the_tokenizers(model, split):
    """Texts without the tokenizer's added tokens (those go through the tokenizer)."""
    tokenizer = sm._ascii_tokenizer(model)
    tokenizer.enable_truncation(sm.MAX_TOKENS)
    expected = tokenizer.encode_batch_fast(TEXTS, add_special_tokens=False)
    sm._WORD_PIECES.clear()
    lengths, ids = [], []
    for i in range(0, len(TEXTS), split):  # a cold cache, then warm ones
        n, found = sm._plain_ascii_ids(model, TEXTS[i : i + split])
        lengths.append(n)
        ids.append(found)
    np.testing.assert_array_equal(np.concatenate(lengths), [len(e.ids) for e in expected])
    np.testing.assert_array_equal(
        np.concatenate(ids), np.concatenate([np.asarray(e.ids, dtype=np.int64) for e in expected])
    )


def test_the_cache_grows_and_is_emptied_when_full(model, monkeypatch):
    monkeypatch.setattr(sm, "_MAX_CACHED_WORDS", 40)
    sm._WORD_PIECES.clear()
    rng = np.random.default_rng(0)
    words = ["".join(rng.choice(list("abcdefgh"), 6)) for _ in range(300)]
    texts = [" ".join(words[i : i + 30]) for i in range(0, 300, 30)]
    tokenizer = sm._ascii_tokenizer(model)
    tokenizer.enable_truncation(sm.MAX_TOKENS)
    for text in texts:
        _, ids = sm._plain_ascii_ids(model, [text])
        expected = tokenizer.encode(text, add_special_tokens=False).ids
        np.testing.assert_array_equal(ids, expected)
    assert len(sm._WORD_PIECES[id(model)]) <= 40


def test_means_match_model2vec_with_mixed_texts(model):
    texts = [*TEXTS, "café naïve façade", "naïve → arrows ∑", "a literal [UNK] and [pad]"]
    ours = sm.mean_token_vectors(model, texts)
    theirs = model.encode(texts, max_length=sm.MAX_TOKENS, use_multiprocessing=False,
                          normalize=False)  # fmt: skip
    np.testing.assert_allclose(ours, np.asarray(theirs, dtype=np.float32), atol=2e-3)
