"""Benchmark: lessdata's semantic dedup beside semhash and an exhaustive pass, one core.

semhash (MinishLab) deduplicates with a static model2vec encoder and an approximate
nearest-neighbour index (usearch): a record goes when a record kept in its place has cosine
similarity >= ``threshold``. lessdata's SemDeDup walks k-means clusters and, by default
(``scope="neighbours"``), also compares each kept row with the kept rows of its two
next-nearest clusters; ``scope="cluster"`` is the paper's within-cluster rule. The
reference is the **exhaustive pass**: every row in turn, removed when a row kept before it
is above the threshold (all pairs, blocked; in row order, and in lessdata's walk order).

One process pinned to one CPU, every time CPU time (``time.process_time``; the CLI's from
``getrusage`` of the child), in three settings:

1. **Same embeddings**, at thresholds 0.95 and 0.9: the static encoder's vectors of
   ``--docs`` code documents of 1,800 characters (the standard library, as in
   ``bench_text_encoders.py``), and ``--vectors`` synthetic 256-d vectors with 5% planted
   near duplicates (``bench_prune_1m.generate``) at 0.95. Each row: time, removals, their
   share of the exhaustive pass's, and whether every removal has a neighbour above the
   threshold (it must: the exhaustive pass defines a duplicate).
2. **End to end on the same texts**, each tool with the same static model (semhash gets
   lessdata's distilled folder through ``StaticModel.from_pretrained``): lessdata's API
   (``lessdata.dedup(texts, method="semantic", encoder="static")``, a fresh embedding
   cache) and its CLI (``lessdata dedup docs.jsonl --method semantic --encoder static
   --out ...`` in a fresh process: start-up, reading, embedding, dedup, writing the kept
   documents, the manifest and the report), against ``SemHash.from_records``.
3. The labelled near-duplicate set (``labelled_duplicates.py``): pairs with one member
   removed, removals outside any pair.

Usage::

    python benchmarks/bench_semhash.py                 # 10,000 docs + 100,000 vectors, minutes
    python benchmarks/bench_semhash.py --docs 2000 --vectors 20000

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
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from bench_prune_1m import generate  # noqa: E402
from bench_text_encoders import code_documents  # noqa: E402
from labelled_duplicates import build  # noqa: E402

import lessdata  # noqa: E402
from lessdata.duplicates.semdedup import dedup_cluster, semantic_duplicates, walk_order  # noqa: E402
from lessdata.embed import embed_texts, get_encoder  # noqa: E402
from lessdata.engines import LocalEngine  # noqa: E402

THRESHOLD = 0.9  # semhash's default (lessdata eps 0.1), for the end-to-end and labelled runs


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


def cpu(fn: Any) -> tuple[Any, float]:
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


def compare(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    union = (a | b).sum()
    return {
        "lessdata_removed": int(a.sum()),
        "semhash_removed": int(b.sum()),
        "same_decision": float((a == b).mean()),
        "removal_jaccard": float((a & b).sum() / union) if union else 1.0,
    }


def justified(x: np.ndarray, removed: np.ndarray, threshold: float) -> bool:
    """Every removed row has some other row above ``threshold`` (blocked all-pairs)."""
    xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    rows = np.flatnonzero(removed)
    for r0 in range(0, len(rows), 1024):
        block = rows[r0 : r0 + 1024]
        sims = xn[block] @ xn.T
        sims[np.arange(len(block)), block] = -np.inf
        if not (sims.max(axis=1) > threshold).all():
            return False
    return True


def same_embeddings(name: str, x: np.ndarray, texts: list[str] | None, threshold: float,
                    model: Any) -> dict[str, Any]:  # fmt: skip
    """lessdata (both scopes), semhash and the exhaustive pass on the same vectors."""
    n = len(x)
    eps = 1.0 - threshold
    out: dict[str, Any] = {"rows": n, "threshold": threshold}
    walk = walk_order(x, k=None, survivor="hard", niter=20, seed=0, engine=LocalEngine(),
                      cache=None)  # fmt: skip
    (_, _, kept_rows), rows_s = cpu(lambda: dedup_cluster(x, np.arange(n), threshold))
    _, _, kept_walk = dedup_cluster(x, walk.order, threshold)
    exhaustive = int((~kept_rows).sum())
    out["exhaustive"] = {"row_order": exhaustive, "walk_order": int((~kept_walk).sum()),
                         "s": rows_s}  # fmt: skip
    print(f"{name}, threshold {threshold}: exhaustive pass removes {exhaustive:,} (row order, "
          f"{rows_s:.2f} s), {int((~kept_walk).sum()):,} in lessdata's walk order")  # fmt: skip
    for scope in ("cluster", "neighbours"):
        semantic_duplicates(x[: min(n, 2000)], eps=eps, seed=0, scope=scope)  # warm-up
        found, s = cpu(lambda scope=scope: semantic_duplicates(x, eps=eps, seed=0, scope=scope))
        removed = found.duplicate_of >= 0
        out[f"lessdata_{scope}"] = {
            "s": s, "removed": int(removed.sum()),
            "of_exhaustive": float(removed.sum() / exhaustive) if exhaustive else 1.0,
            "justified": justified(x, removed, threshold),
        }  # fmt: skip
    if texts is not None or n <= 200_000:
        records = texts if texts is not None else [str(i) for i in range(n)]
        semhash_removed(records[:100], threshold, model, x[:100])  # warm-up
        theirs, s = cpu(lambda: semhash_removed(records, threshold, model, x))
        out["semhash"] = {"s": s, "removed": int(theirs.sum()),
                          "of_exhaustive": float(theirs.sum() / exhaustive) if exhaustive else 1.0,
                          "justified": justified(x, theirs, threshold)}  # fmt: skip
    base = out["lessdata_cluster"]["s"]
    for arm in ("lessdata_cluster", "lessdata_neighbours", "semhash"):
        if arm in out:
            r = out[arm]
            print(f"  {arm:20s} {r['s']:7.2f} s ({r['s'] / base:4.2f}x within-cluster) removes "
                  f"{r['removed']:,} = {r['of_exhaustive']:.3f} of exhaustive; every removal "
                  f"has a neighbour above {threshold}: {r['justified']}")  # fmt: skip
    return out


def cli_run(path: Path, out: Path, cache: Path) -> float:
    """CPU seconds of ``lessdata dedup`` in a fresh process (fresh embedding cache)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "LESSDATA_CACHE": str(cache)}
    exe = Path(sys.executable).with_name("lessdata")
    subprocess.run([str(exe), "dedup", str(path), "--method", "semantic", "--eps",
                    str(round(1 - THRESHOLD, 6)), "--encoder", "static", "--out", str(out),
                    "-q"], check=True, env=env, stdout=subprocess.DEVNULL)  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/semhash.json"))
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})  # children inherit it
    import torch
    from model2vec import StaticModel

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="bench-semhash-"))
    encoder = get_encoder("static", cache_dir=work / "model-cache")
    os.environ.setdefault("LESSDATA_MODELS", str(encoder.folder.parent))
    model = StaticModel.from_pretrained(str(encoder.folder))
    docs = code_documents(args.docs)
    n = len(docs)
    fig: dict[str, Any] = {"docs": n, "clock": "CPU time, one core",
                           "load_average": os.getloadavg()[0]}  # fmt: skip
    print(f"{n:,} code documents of 1,800 characters; one core, CPU time; load average "
          f"{os.getloadavg()[0]:.2f}")  # fmt: skip

    x = np.asarray(embed_texts(docs, encoder, use_cache=False))
    fig["code_embeddings"] = [same_embeddings("code documents", x, docs, t, model)
                              for t in (0.95, 0.9)]  # fmt: skip
    if args.vectors:
        vec_path = work / "vectors.npy"
        generate(vec_path, work / "planted.npy", args.vectors, 256, 0)
        v = np.load(vec_path)
        fig["vectors"] = same_embeddings(f"{args.vectors:,} synthetic 256-d vectors", v, None,
                                         0.95, model)  # fmt: skip

    eps = 1 - THRESHOLD
    result, api_s = cpu(lambda: lessdata.dedup(
        docs, method="semantic", method_options={"eps": eps}, encoder="static",
        cache_dir=work / "api-cache", out=work / "api-out",
    ))  # fmt: skip
    jsonl = work / "docs.jsonl"
    with open(jsonl, "w") as handle:
        for i, text in enumerate(docs):
            handle.write(json.dumps({"id": i, "text": text}) + "\n")
    cli_runs = []
    for i in range(2):
        shutil.rmtree(work / "cli-cache", ignore_errors=True)
        cli_runs.append(cli_run(jsonl, work / f"cli-out-{i}", work / "cli-cache"))
    cli_s = min(cli_runs)
    theirs, semhash_s = cpu(lambda: semhash_removed(docs, THRESHOLD, model))
    ours_removed = np.ones(n, dtype=bool)
    ours_removed[result.kept] = False
    e2e = compare(ours_removed, theirs)
    fig["end_to_end"] = {
        "threshold": THRESHOLD, "lessdata_api_docs_per_s": n / api_s,
        "lessdata_cli_docs_per_s": n / cli_s, "semhash_docs_per_s": n / semhash_s, **e2e,
    }  # fmt: skip
    print(f"end to end, texts in, threshold {THRESHOLD}: lessdata API {n / api_s:,.0f} docs/s, "
          f"CLI {n / cli_s:,.0f} docs/s (fresh process; goal 2,000), semhash "
          f"{n / semhash_s:,.0f} docs/s ({(n / cli_s) / (n / semhash_s):.2f}x, CLI vs "
          f"semhash); removed {e2e['lessdata_removed']} vs {e2e['semhash_removed']}, same "
          f"decision {e2e['same_decision']:.3f}")  # fmt: skip

    labelled = build(code_pairs=args.pairs * 3 // 5, prose_pairs=args.pairs * 2 // 5,
                     negatives=args.pairs, seed=0)  # fmt: skip
    pairs = np.array(labelled.pairs)
    lx = np.asarray(embed_texts(labelled.texts, encoder, use_cache=False))
    quality = {}
    arms = {
        "lessdata": semantic_duplicates(lx, eps=eps, seed=0).duplicate_of >= 0,
        "lessdata (within clusters)": semantic_duplicates(lx, eps=eps, seed=0,
                                                          scope="cluster").duplicate_of >= 0,
        "semhash": semhash_removed(labelled.texts, THRESHOLD, model, lx),
    }  # fmt: skip
    in_pairs = np.zeros(len(lx), dtype=bool)
    in_pairs[pairs.ravel()] = True
    for name, removed in arms.items():
        one = removed[pairs[:, 0]] ^ removed[pairs[:, 1]]  # exactly one member of the pair
        quality[name] = {
            "removed": int(removed.sum()),
            "pairs_with_one_removed": float(one.mean()),
            "removed_outside_pairs": int((removed & ~in_pairs).sum()),
        }
        q = quality[name]
        print(f"labelled set ({len(labelled.texts)} docs, {len(pairs)} pairs), {name}: removed "
              f"{q['removed']}, pairs with one member removed "
              f"{q['pairs_with_one_removed']:.3f}, removed outside any pair "
              f"{q['removed_outside_pairs']}")  # fmt: skip
    fig["labelled"] = quality
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(fig, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
