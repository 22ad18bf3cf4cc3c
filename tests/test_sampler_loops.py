"""The samplers in ordinary training code: datasets that give the index, len() before or
without set_epoch, a peek that consumes nothing, forwards as the losses received, and update
refusing an index the epoch skipped."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lessdata.errors import LessdataError  # noqa: E402
from lessdata.torch import (  # noqa: E402
    DynamicPruningSampler,
    IndexedDataset,
    PrunedSampler,
    with_index,
)

N = 200


def _losses(idx):
    return torch.from_numpy(np.random.default_rng(0).exponential(size=N)[np.asarray(idx)])


def _loader(sampler, batch=16):
    data = IndexedDataset(torch.utils.data.TensorDataset(torch.zeros(N, 3), torch.ones(N)))
    return torch.utils.data.DataLoader(data, batch_size=batch, sampler=sampler)


def test_indexed_dataset_puts_the_row_in_front_or_under_a_key():
    tensors = IndexedDataset(torch.utils.data.TensorDataset(torch.arange(5) * 10, torch.ones(5)))
    assert len(tensors) == 5
    idx, x, y = tensors[3]
    assert (idx, int(x), float(y)) == (3, 30, 1.0)
    assert IndexedDataset(["a", "b"])[1] == (1, "b")
    assert IndexedDataset([{"x": 1}], key="row")[0] == {"x": 1, "row": 0}
    batch = next(iter(torch.utils.data.DataLoader(tensors, batch_size=5, shuffle=False)))
    assert batch[0].tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(LessdataError, match="already have a 'index' key"):
        IndexedDataset([{"index": 4}])[0]
    with pytest.raises(LessdataError, match="dataset must be a map-style dataset"):
        IndexedDataset(iter([1, 2]))


def test_hugging_face_datasets_get_an_index_column_or_key():
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 0]})
    indexed = with_index(ds)
    assert indexed["index"] == [0, 1, 2] and indexed.column_names == ["text", "label", "index"]
    assert with_index(indexed) is indexed  # already the index: kept
    with pytest.raises(LessdataError, match="already has a 'label' column that is not the row"):
        with_index(ds, column="label")
    with pytest.raises(LessdataError, match=r"dataset must be a datasets\.Dataset"):
        with_index([1, 2])
    assert IndexedDataset(ds)[2] == {"text": "c", "label": 0, "index": 2}
    shuffled = with_index(ds).shuffle(seed=0)  # the column follows its row
    assert sorted(shuffled["index"]) == [0, 1, 2] and shuffled[0]["text"] == "abc"[
        shuffled[0]["index"]]  # fmt: skip


def test_len_is_the_coming_epochs_with_or_without_set_epoch():
    sampler = DynamicPruningSampler(N, epochs=4, prune_ratio=0.6, anneal=0.25, seed=1)
    loader = _loader(sampler)
    assert len(sampler) == N and len(loader) == 13  # before anything: the first epoch's
    for epoch in range(4):  # no set_epoch: an epoch that ran to its end moves to the next
        planned = len(loader), len(sampler)
        seen = []
        for idx, _, _ in loader:
            sampler.update(idx, _losses(idx))
            seen += idx.tolist()
        assert (len(seen), -(-len(seen) // 16)) == (planned[1], planned[0]), epoch
        assert sampler.epoch == epoch
    assert planned[1] == N and len(set(seen)) == N  # the annealing epoch is full
    with_set = DynamicPruningSampler(N, epochs=4, prune_ratio=0.6, seed=1)
    with_set.update(np.arange(N), _losses(np.arange(N)))
    with_set.set_epoch(1)
    assert len(with_set) == len(list(with_set)) < N


def test_a_peek_does_not_consume_an_epoch():
    sampler = DynamicPruningSampler(N, epochs=3, prune_ratio=0.5, seed=2)
    loader = _loader(sampler)
    peeked = next(iter(loader))[0].tolist()  # e.g. to check shapes; the iterator is dropped
    assert sampler.epoch == 0 and sampler.forwards == 0 and sampler.yielded == 16
    epochs = []
    for _ in range(3):
        seen = []
        for idx, _, _ in loader:
            sampler.update(idx, _losses(idx))
            seen += idx.tolist()
        epochs.append(seen)
    assert epochs[0][:16] == peeked and len(epochs[0]) == N  # the same epoch 0, whole
    assert sampler.forwards == sum(map(len, epochs)) and sampler.yielded == 16 + sampler.forwards
    with pytest.raises(LessdataError, match="iterated for epoch 3 but was made for epochs=3"):
        next(iter(loader))


def test_a_new_iterator_mid_epoch_continues_after_the_losses_received():
    sampler = DynamicPruningSampler(N, epochs=2, seed=3)
    sampler.set_epoch(0)
    it = iter(sampler)
    first = [next(it) for _ in range(50)]
    sampler.update(first[:30], _losses(first[:30]))  # 30 trained, 20 fetched ahead
    rest = list(sampler)
    assert rest[:20] == first[30:] and sorted(first[:30] + rest) == list(range(N))


def test_pruned_sampler_peek_restarts_and_an_epoch_run_to_its_end_moves_on():
    sampler = PrunedSampler(np.arange(0, 100, 2), seed=1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(100)),
                                         batch_size=8, sampler=sampler)  # fmt: skip
    peek = next(iter(loader))[0].tolist()
    epoch0 = [i for (b,) in loader for i in b.tolist()]
    epoch1 = [i for (b,) in loader for i in b.tolist()]
    assert epoch0[:8] == peek and sorted(epoch0) == sorted(epoch1) and epoch0 != epoch1
    assert sampler.epoch == 1
    sampler.set_epoch(0)  # set_epoch still chooses
    assert [i for (b,) in loader for i in b.tolist()] == epoch0


def test_forwards_count_the_losses_update_received():
    sampler = DynamicPruningSampler(N, epochs=2, seed=0)
    sampler.update(np.arange(N), _losses(np.arange(N)))  # before the first epoch: not counted
    assert sampler.forwards == 0
    sampler.set_epoch(0)
    it = iter(sampler)
    batch = [next(it) for _ in range(40)]
    sampler.update(batch[:25], _losses(batch[:25]))
    assert sampler.forwards == 25 and sampler.yielded == 40


def test_update_refuses_an_index_this_epoch_skipped():
    sampler = DynamicPruningSampler(N, epochs=4, prune_ratio=0.9, seed=0)
    sampler.update(np.arange(N), _losses(np.arange(N)))
    sampler.set_epoch(1)
    kept = list(sampler)
    skipped = sorted(set(range(N)) - set(kept))
    assert skipped
    before = sampler.losses.copy()
    with pytest.raises(LessdataError, match=rf"indices \[{skipped[0]}\] were skipped in epoch 1 "
                                            r"\(1 of this batch's 2\)") as e:  # fmt: skip
        sampler.update([skipped[0], kept[0]], torch.ones(2))
    assert e.value.param == "indices"
    assert np.array_equal(sampler.losses, before)  # nothing recorded


def test_a_scores_manifest_is_refused_as_not_a_selection(tmp_path):
    """``lessdata score`` writes scores without a kept column: not something to train on."""
    import numpy as np

    import lessdata
    from lessdata.errors import LessdataError
    from lessdata.torch import PrunedSampler

    x = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
    lessdata.score(x, ["prototypes"], out=tmp_path / "s.parquet", quiet=True)
    with pytest.raises(LessdataError, match="no 'kept' column: it holds scores"):
        PrunedSampler(tmp_path / "s.parquet")
