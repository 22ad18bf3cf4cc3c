"""D2 pruning (Maharana et al. 2023, arXiv 2310.07931): message passing on a kNN graph.

Difficulty alone picks hard examples that may all sit in one corner of the data; coverage
alone ignores difficulty. D2 balances the two on a graph whose nodes are the examples and
whose edges join each example to its ``k`` nearest neighbours in the embedding:

1. **Forward message passing**: every node adds its neighbours' difficulties, weighted by
   closeness: ``s_i ← s_i + Σ_{j ∈ kNN(i)} exp(-γ d_ij) s_j``. A hard example in a dense
   region (many similar hard examples) rises; an isolated outlier does not.
2. **Reverse message passing** (selection): repeatedly keep the node of highest score and
   lower its neighbours' scores by what they share with it, ``s_j ← s_j − exp(-γ d_ij) s_i``,
   so the next pick comes from elsewhere: coverage.

Choices (the paper tunes them per dataset): ``k = 10`` neighbours, one ``γ = 1`` for both
passes, distances divided by their mean over the graph (so ``γ`` does not depend on the
embedding's scale), and difficulties mapped to their ranks in (0, 1] (so a metric's
outliers cannot dominate the messages). The kNN graph is exact (faiss ``IndexFlatL2``); its
cost grows as N², fine to ~10⁵ examples on a laptop.
"""

from __future__ import annotations

import heapq

import numpy as np

D2_K = 10
D2_GAMMA = 1.0


def knn_graph(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` nearest other rows and their Euclidean distances, ``(N, k)`` each."""
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    k = min(k, len(x) - 1)
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    distances, neighbours = index.search(x, k + 1)
    # drop each row itself (normally the first hit; with exact duplicates, any one of them)
    own = neighbours == np.arange(len(x))[:, None]
    no_self = ~own.any(axis=1)
    own[no_self, -1] = True  # a row not found among its hits: drop the farthest instead
    keep = ~own
    neighbours = neighbours[keep].reshape(len(x), k)
    distances = np.sqrt(np.maximum(distances[keep].reshape(len(x), k), 0))
    return neighbours.astype(np.int64), distances.astype(np.float64)


def d2_select(
    scores: np.ndarray,
    vectors: np.ndarray,
    budget: int,
    *,
    k: int = D2_K,
    gamma: float = D2_GAMMA,
) -> np.ndarray:
    """The ``budget`` rows D2 keeps (sorted), from difficulty ``scores`` (higher = harder)."""
    n = len(scores)
    if budget >= n:
        return np.arange(n, dtype=np.int64)
    if n < 2:
        return np.arange(budget, dtype=np.int64)
    ranks = np.empty(n)
    ranks[np.argsort(scores, kind="stable")] = np.arange(1, n + 1) / n
    neighbours, distances = knn_graph(vectors, k)
    scale = distances.mean()
    weights = np.exp(-gamma * distances / (scale if scale > 0 else 1.0))
    current = ranks + (weights * ranks[neighbours]).sum(axis=1)
    heap = [(-value, i) for i, value in enumerate(current.tolist())]
    heapq.heapify(heap)
    chosen = np.zeros(n, dtype=bool)
    picked: list[int] = []
    while len(picked) < budget:
        negative, i = heapq.heappop(heap)
        if chosen[i]:
            continue
        if -negative != current[i]:  # lowered since it was pushed: push its new value
            heapq.heappush(heap, (-current[i], i))
            continue
        chosen[i] = True
        picked.append(i)
        current[neighbours[i]] -= weights[i] * current[i]
    return np.sort(np.asarray(picked, dtype=np.int64))
