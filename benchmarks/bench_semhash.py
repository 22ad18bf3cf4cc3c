"""Benchmark: lessdata's semantic dedup beside semhash, on one core, same data.

semhash (MinishLab) deduplicates with a static model2vec encoder and an approximate
nearest-neighbour index (usearch): a record goes when another record kept in its place has
cosine similarity >= ``threshold``. lessdata's SemDeDup compares within k-means clusters.
One run, the process pinned to one CPU, in two settings:

1. **Same embeddings**: the static encoder's vectors of the corpus, given to both:
   ``lessdata.duplicates.semantic_duplicates(x, eps=1 - threshold)`` and
   ``SemHash.from_embeddings(x, records, model).self_deduplicate(threshold)``. Timed (semhash
   includes building its index), removals compared (share of documents with the same
   keep/remove decision, Jaccard index of the removal sets).
2. **End to end on the same texts**, each tool with its static encoder, which here is the
   same model: semhash gets lessdata's distilled model (``StaticModel.from_pretrained`` on
   its folder). ``lessdata.dedup(texts, method="semantic", encoder="static")`` against
   ``SemHash.from_records(records, model=...).self_deduplicate(threshold)``.

Then both on the labelled near-duplicate set (``labelled_duplicates.py``): precision and
recall of the removals against the labelled pairs.

Corpus: ``--docs`` code documents of 1,800 characters (the standard library, as in
``bench_text_encoders.py``). Threshold 0.9 (semhash's default; lessdata's eps 0.1).

Usage::

    python benchmarks/bench_semhash.py                # 10,000 docs, about 1 minute
    python benchmarks/bench_semhash.py --docs 2000

Writes ``benchmarks/results/semhash.json``. Needs ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("LESSDATA_QUIET", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from bench_text_encoders import code_documents  # noqa: E402
from labelled_duplicates import build  # noqa: E402

import lessdata  # noqa: E402
from lessdata.duplicates.semdedup import semantic_duplicates  # noqa: E402
from lessdata.embed import embed_texts, get_encoder  # noqa: E402

THRESHOLD = 0.9


def semhash_removed(texts: list[str], threshold: float, model: Any,
                    embeddings: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """semhash's self-deduplication: a boolean mask of the removed documents."""
    from semhash import SemHash

    records = [{"id": str(i), "text": t} for i, t in enumerate(texts)]
    if embeddings is None:
        index = SemHash.from_records(records, columns=["text"], model=model)
    else:
        index = SemHash.from_embeddings(embeddings, records, model=model, columns=["text"])
    result = index.self_deduplicate(threshold=threshold)
    removed = np.zeros(len(texts), dtype=bool)
    removed[[int(d.record["id"]) for d in result.filtered]] = True
    return removed


def compare(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    union = (a | b).sum()
    return {
        "lessdata_removed": int(a.sum()),
        "semhash_removed": int(b.sum()),
        "same_decision": float((a == b).mean()),
        "removal_jaccard": float((a & b).sum() / union) if union else 1.0,
    }


def timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/semhash.json"))
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    import torch
    from model2vec import StaticModel

    torch.set_num_threads(1)
    cache = Path(tempfile.mkdtemp(prefix="bench-semhash-"))
    encoder = get_encoder("static", cache_dir=cache)
    model = StaticModel.from_pretrained(str(encoder.folder))
    docs = code_documents(args.docs)
    n = len(docs)
    fig: dict[str, Any] = {"docs": n, "threshold": THRESHOLD}
    print(f"{n:,} code documents of 1,800 characters; threshold {THRESHOLD}; one core")

    x = np.asarray(embed_texts(docs, encoder, use_cache=False))
    semhash_removed(docs[:100], THRESHOLD, model, x[:100])  # warm-up (imports, index)
    found, ours_s = timed(lambda: semantic_duplicates(x, eps=1 - THRESHOLD, seed=0))
    theirs, theirs_s = timed(lambda: semhash_removed(docs, THRESHOLD, model, x))
    same = compare(found.duplicate_of >= 0, theirs)
    fig["same_embeddings"] = {"lessdata_s": ours_s, "semhash_s": theirs_s, **same}
    print(
        f"same embeddings: lessdata {ours_s:.2f} s ({n / ours_s:,.0f} docs/s), semhash "
        f"{theirs_s:.2f} s ({n / theirs_s:,.0f} docs/s); removed {same['lessdata_removed']} vs "
        f"{same['semhash_removed']}; same decision {same['same_decision']:.3f}, removal "
        f"Jaccard {same['removal_jaccard']:.3f}"
    )

    result, ours_e2e = timed(lambda: lessdata.dedup(
        docs, method="semantic", method_options={"eps": 1 - THRESHOLD}, encoder="static",
        cache_dir=cache,
    ))  # fmt: skip
    theirs2, theirs_e2e = timed(lambda: semhash_removed(docs, THRESHOLD, model))
    ours_removed = np.ones(n, dtype=bool)
    ours_removed[result.kept] = False
    e2e = compare(ours_removed, theirs2)
    fig["end_to_end"] = {
        "lessdata_docs_per_s": n / ours_e2e, "semhash_docs_per_s": n / theirs_e2e, **e2e
    }  # fmt: skip
    print(
        f"end to end (texts in): lessdata {n / ours_e2e:,.0f} docs/s, semhash "
        f"{n / theirs_e2e:,.0f} docs/s; removed {e2e['lessdata_removed']} vs "
        f"{e2e['semhash_removed']}; same decision {e2e['same_decision']:.3f}, removal "
        f"Jaccard {e2e['removal_jaccard']:.3f}"
    )

    labelled = build(code_pairs=args.pairs * 3 // 5, prose_pairs=args.pairs * 2 // 5,
                     negatives=args.pairs, seed=0)  # fmt: skip
    pairs = np.array(labelled.pairs)
    lx = np.asarray(embed_texts(labelled.texts, encoder, use_cache=False))
    ours_l = semantic_duplicates(lx, eps=1 - THRESHOLD, seed=0).duplicate_of >= 0
    theirs_l = semhash_removed(labelled.texts, THRESHOLD, model, lx)
    quality = {}
    for name, removed in (("lessdata", ours_l), ("semhash", theirs_l)):
        one = removed[pairs[:, 0]] ^ removed[pairs[:, 1]]  # exactly one member of the pair
        in_pairs = np.zeros(len(removed), dtype=bool)
        in_pairs[pairs.ravel()] = True
        quality[name] = {
            "removed": int(removed.sum()),
            "pairs_with_one_removed": float(one.mean()),
            "removed_outside_pairs": int((removed & ~in_pairs).sum()),
        }
        q = quality[name]
        print(
            f"labelled set ({len(labelled.texts)} docs, {len(pairs)} pairs), {name}: removed "
            f"{q['removed']}, pairs with one member removed {q['pairs_with_one_removed']:.3f}, "
            f"removed outside any pair {q['removed_outside_pairs']}"
        )
    fig["labelled"] = quality | {"agreement": compare(ours_l, theirs_l)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(fig, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
