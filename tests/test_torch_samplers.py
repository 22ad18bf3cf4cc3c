"""lessdata.torch: static and dynamic pruning samplers, the loss recorder, results as subsets."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lessdata  # noqa: E402
from lessdata.errors import LessdataError  # noqa: E402
from lessdata.torch import DynamicPruningSampler, LossRecorder, PrunedSampler  # noqa: E402

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide" / "training-loop.md"


# --- PrunedSampler ------------------------------------------------------------------------


def test_pruned_sampler_is_seeded_by_epoch_and_yields_the_kept_rows():
    kept = np.array([9, 2, 5, 7, 0])
    sampler = PrunedSampler(kept, seed=3)
    first = list(sampler)
    assert sorted(first) == [0, 2, 5, 7, 9] and len(sampler) == 5
    assert list(PrunedSampler(kept, seed=3)) == first
    orders = set()
    for epoch in range(6):
        sampler.set_epoch(epoch)
        orders.add(tuple(sampler))
    assert len(orders) > 1
    assert list(PrunedSampler(kept, shuffle=False)) == [0, 2, 5, 7, 9]


def test_pruned_sampler_splits_across_ranks_like_distributed_sampler():
    kept = np.arange(0, 22, 2)  # 11 rows over 3 ranks: padded to 12
    shares = [list(PrunedSampler(kept, num_replicas=3, rank=r, seed=1)) for r in range(3)]
    assert [len(s) for s in shares] == [4, 4, 4]
    assert set().union(*map(set, shares)) == set(kept.tolist())
    cut = [list(PrunedSampler(kept, num_replicas=3, rank=r, drop_last=True)) for r in range(3)]
    assert [len(s) for s in cut] == [3, 3, 3] and len(set().union(*map(set, cut))) == 9


def test_pruned_sampler_reads_results_and_manifests(tmp_path):
    x = np.random.default_rng(0).normal(size=(120, 6)).astype(np.float32)
    result = lessdata.prune(x, 0.25, policy="random", out=tmp_path / "p", quiet=True)
    from_result = PrunedSampler(result, shuffle=False, dataset_size=120)
    from_manifest = PrunedSampler(tmp_path / "p" / "manifest.parquet", shuffle=False)
    assert list(from_result) == list(from_manifest) == result.kept.tolist()
    with pytest.raises(LessdataError, match="written for another dataset"):
        PrunedSampler(tmp_path / "p" / "manifest.parquet", dataset_size=100)
    with pytest.raises(LessdataError, match="made from another dataset"):
        PrunedSampler(result, dataset_size=121)


@pytest.mark.parametrize(
    ("kept", "size", "message"),
    [
        ([1, 2, 2], None, "more than once"),
        ([1, -1], None, "negative"),
        ([1, 10], 10, "out of range"),
        ([[1, 2]], None, "1-D array"),
        ([0.5, 1.5], None, "1-D array of row indices"),
    ],
)
def test_pruned_sampler_refuses_bad_rows(kept, size, message):
    with pytest.raises(LessdataError, match=message):
        PrunedSampler(np.array(kept), dataset_size=size)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1}, "seed must be a non-negative whole number, got -1"),
        ({"seed": 1.5}, "seed must be a non-negative whole number, got 1.5"),
        ({"seed": "0"}, "seed must be"),
        ({"shuffle": "yes"}, "shuffle must be True or False, got 'yes'"),
        ({"drop_last": None}, "drop_last must be True or False"),
        ({"dataset_size": 0}, "dataset_size must be a positive whole number, got 0"),
        ({"dataset_size": 10.0}, "dataset_size must be"),
        ({"num_replicas": 0}, "num_replicas must be a positive whole number, got 0"),
        ({"num_replicas": 2, "rank": 2}, r"rank must be a whole number in \[0, 1\], got 2"),
        ({"rank": -1}, "rank must be"),
        ({"num_replicas": 2.0}, "num_replicas must be"),
    ],
)
def test_pruned_sampler_refuses_bad_settings(kwargs, message):
    with pytest.raises(LessdataError, match=message):
        PrunedSampler([1, 2, 3], **kwargs)


@pytest.mark.parametrize("epoch", [-1, -100, 1.5, True, "2", None])
def test_pruned_sampler_set_epoch_refuses_what_is_not_an_epoch(epoch):
    sampler = PrunedSampler(np.arange(20), seed=1)
    with pytest.raises(LessdataError, match="epoch must be a non-negative whole number"):
        sampler.set_epoch(epoch)
    assert sampler.epoch == 0  # unchanged
    sampler.set_epoch(np.int64(3))
    assert sampler.epoch == 3 and sorted(sampler) == list(range(20))


# --- DynamicPruningSampler ----------------------------------------------------------------


def _run_epoch(sampler, losses_of):
    seen = list(sampler)
    weights = sampler.update(torch.tensor(seen), torch.tensor(losses_of[seen]))
    return seen, weights.numpy()


def test_dynamic_sampler_schedule_first_epoch_pruning_then_annealing():
    n, epochs = 400, 8
    losses = np.random.default_rng(0).exponential(size=n)
    sampler = DynamicPruningSampler(n, epochs=epochs, prune_ratio=0.5, anneal=0.25, seed=1)
    sizes = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        planned = len(sampler)  # read before the epoch: once it is over, len is the next one's
        seen, weights = _run_epoch(sampler, losses)
        assert len(seen) == planned == len(set(seen))
        sizes.append(len(seen))
        if sampler.prunes(epoch):
            low = losses[seen] < losses.mean()
            assert np.allclose(weights[low], 2.0) and np.allclose(weights[~low], 1.0)
            skipped = np.setdiff1d(np.arange(n), seen)
            assert (losses[skipped] < losses.mean()).all()  # only well-learned are skipped
        else:
            assert np.allclose(weights, 1.0)
    assert sizes[0] == sizes[-1] == sizes[-2] == n  # first epoch, and the last 25%
    below = (losses < losses.mean()).sum()
    for size in sizes[1:6]:
        assert abs((n - size) - below / 2) < 4 * np.sqrt(below / 4)  # ~half of them skipped
    assert sampler.forwards == sum(sizes)
    assert sampler.expected_total_steps(1, below_mean_share=below / n) == pytest.approx(
        sum(sizes), rel=0.05
    )


def test_dynamic_sampler_is_deterministic_and_identical_across_ranks():
    n = 301
    losses = np.random.default_rng(2).random(n)

    def decisions(num_replicas, rank, seed=0):
        sampler = DynamicPruningSampler(n, epochs=6, seed=seed, num_replicas=num_replicas,
                                        rank=rank, shared_losses=True)  # fmt: skip
        sampler.update(np.arange(n), torch.tensor(losses))  # every rank saw every loss
        sampler.set_epoch(2)
        return list(sampler)

    assert decisions(1, 0) == decisions(1, 0)
    assert decisions(1, 0, seed=1) != decisions(1, 0)
    rank0, rank1 = decisions(2, 0), decisions(2, 1)
    assert len(rank0) == len(rank1)
    assert set(rank0) | set(rank1) == set(decisions(1, 0))  # the same skipped set


def test_reweighted_loss_gives_the_full_data_gradient_in_expectation():
    """Linear model, squared loss: E[sum over kept of w_i g_i] = sum over all of g_i."""
    rng = np.random.default_rng(0)
    n, d = 200, 3
    x, w_true = rng.normal(size=(n, d)), rng.normal(size=d)
    y = x @ w_true + rng.normal(size=n)
    w = np.zeros(d)
    residual = x @ w - y
    grads = residual[:, None] * x  # per-example gradient of 0.5 * residual^2
    losses = 0.5 * residual**2
    full = grads.sum(0)
    totals = []
    for seed in range(400):
        sampler = DynamicPruningSampler(n, epochs=4, prune_ratio=0.7, seed=seed)
        sampler.update(np.arange(n), torch.tensor(losses))
        sampler.set_epoch(1)
        seen = np.array(list(sampler))
        weights = sampler.update(torch.tensor(seen), torch.tensor(losses[seen])).numpy()
        totals.append((weights[:, None] * grads[seen]).sum(0))
    totals = np.array(totals)
    error = np.abs(totals.mean(0) - full)
    assert (error < 4 * totals.std(0) / np.sqrt(len(totals))).all(), (totals.mean(0), full)
    # without the weights the sum would miss prune_ratio of the low-loss examples' gradient:
    # a bias this test would see (so it would fail on unweighted losses)
    bias = 0.7 * grads[losses < losses.mean()].sum(0)
    assert np.abs(bias).max() > 10 * (totals.std(0) / np.sqrt(len(totals))).max()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prune_ratio": 1.0}, r"prune_ratio must be a number in \[0, 1\), got 1.0"),
        ({"prune_ratio": -0.1}, "prune_ratio"),
        ({"prune_ratio": float("nan")}, "prune_ratio"),
        ({"prune_ratio": True}, "prune_ratio"),
        ({"prune_ratio": "0.5"}, "prune_ratio"),
        ({"anneal": 1.5}, r"anneal must be a number in \[0, 1\]"),
        ({"anneal": -0.1}, "anneal"),
        ({"anneal": None}, "anneal"),
        ({"epochs": 0}, "epochs"),
        ({"epochs": 2.0}, "epochs must be a positive whole number, got 2.0"),
        ({"epochs": True}, "epochs"),
        ({"n": 0}, "n must be a positive whole number"),
        ({"n": 10.0}, "n must be"),
        ({"n": False}, "n must be"),
        ({"seed": -1}, "seed must be a non-negative whole number, got -1"),
        ({"seed": 1.5}, "seed"),
        ({"shuffle": "no"}, "shuffle must be True or False"),
        ({"shared_losses": 1}, "shared_losses must be True or False"),
        ({"num_replicas": 0}, "num_replicas must be a positive whole number"),
        ({"num_replicas": 2, "rank": 2, "shared_losses": True}, r"rank must be .*\[0, 1\]"),
        ({"rank": -1}, "rank"),
    ],
)
def test_dynamic_sampler_refuses_bad_settings(kwargs, message):
    with pytest.raises(LessdataError, match=message):
        DynamicPruningSampler(**{"n": 10, "epochs": 4, **kwargs})


def test_dynamic_sampler_takes_numpy_scalars():
    sampler = DynamicPruningSampler(np.int64(10), epochs=np.int32(4),
                                    prune_ratio=np.float32(0.5), seed=np.uint8(3))  # fmt: skip
    assert (sampler.n, sampler.epochs, sampler.prune_ratio, sampler.seed) == (10, 4, 0.5, 3)


def test_dynamic_sampler_refuses_ranks_that_would_prune_from_their_own_losses():
    """Without a process group each rank would only know its own share's losses: at epoch 1
    the ranks' pruned epochs overlap and together miss examples. Refused unless the caller
    says it shares the loss table."""
    with pytest.raises(LessdataError, match=r"num_replicas=2 but torch\.distributed is not") as e:
        DynamicPruningSampler(100, epochs=4, num_replicas=2, rank=1)
    assert "shared_losses=True" in str(e.value) and e.value.param == "num_replicas"
    DynamicPruningSampler(100, epochs=4, num_replicas=1, rank=0)  # one replica: nothing to share
    n = 100
    losses = np.random.default_rng(7).exponential(size=n)
    shares = []
    for rank in range(2):  # the opt-out: the caller gives every rank every loss
        sampler = DynamicPruningSampler(n, epochs=4, num_replicas=2, rank=rank, seed=3,
                                        shared_losses=True)  # fmt: skip
        sampler.update(np.arange(n), torch.tensor(losses))
        sampler.set_epoch(1)
        shares.append(set(sampler))
    single = DynamicPruningSampler(n, epochs=4, seed=3)
    single.update(np.arange(n), torch.tensor(losses))
    single.set_epoch(1)
    assert shares[0] | shares[1] == set(single) and len(set(single)) < n


def test_dynamic_sampler_refuses_a_group_of_one_process_for_two_replicas(tmp_path):
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'init'}", rank=0, world_size=1
    )
    try:
        with pytest.raises(LessdataError, match="initialised with one process"):
            DynamicPruningSampler(10, epochs=4, num_replicas=2, rank=0)
        assert DynamicPruningSampler(10, epochs=4).num_replicas == 1  # from the group
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.parametrize(
    ("batch_size", "message"),
    [
        (0, "batch_size must be a positive whole number, got 0"),
        (-4, "batch_size must be a positive whole number, got -4"),
        (True, "batch_size must be a positive whole number, got True"),
        (8.0, "batch_size must be a positive whole number, got 8.0"),
        ("8", "batch_size must be"),
    ],
)
def test_expected_total_steps_refuses_a_bad_batch_size(batch_size, message):
    sampler = DynamicPruningSampler(100, epochs=8)
    with pytest.raises(LessdataError, match=message):
        sampler.expected_total_steps(batch_size)


def test_expected_total_steps_checks_the_share_and_counts_partial_batches():
    sampler = DynamicPruningSampler(100, epochs=8, prune_ratio=0.5, anneal=0.25)
    # epochs 0, 6, 7 full (4 batches of 32, the last partial); 1-5 at 75 examples (3 batches)
    assert sampler.expected_total_steps(32) == 3 * 4 + 5 * 3
    assert sampler.expected_total_steps(np.int64(100), below_mean_share=0) == 8
    for share in (-0.1, 1.5, float("nan"), None):
        with pytest.raises(LessdataError, match="below_mean_share must be a number in"):
            sampler.expected_total_steps(32, below_mean_share=share)


@pytest.mark.parametrize(
    ("epoch", "message"),
    [
        (-1, r"epoch must be a whole number in \[0, 3\], got -1"),
        (4, r"epoch must be a whole number in \[0, 3\], got 4; the sampler was made for epochs=4"),
        (1.0, "epoch must be"),
        (True, "epoch must be"),
    ],
)
def test_dynamic_sampler_set_epoch_stays_inside_the_schedule(epoch, message):
    sampler = DynamicPruningSampler(10, epochs=4)
    with pytest.raises(LessdataError, match=message):
        sampler.set_epoch(epoch)
    sampler.set_epoch(3)  # the last epoch is fine
    assert len(list(sampler)) == 10


def test_dynamic_sampler_iterated_past_its_epochs_says_so():
    sampler = DynamicPruningSampler(10, epochs=2)
    assert len(list(sampler)) == len(list(sampler)) == 10  # epochs 0 and 1, no set_epoch
    with pytest.raises(LessdataError, match="iterated for epoch 2 but was made for epochs=2"):
        list(sampler)


def test_dynamic_sampler_update_checks_and_counts_nan():
    sampler = DynamicPruningSampler(10, epochs=4)
    with pytest.raises(LessdataError, match=r"indices must be in \[0, 10\)"):
        sampler.update([3, 10], torch.ones(2))
    with pytest.raises(LessdataError, match="one loss per index"):
        sampler.update([1, 2, 3], torch.ones(2))
    with pytest.raises(LessdataError, match="reduction='none'"):
        sampler.update([1, 2], torch.tensor(1.0))
    sampler.update([0, 1, 2], torch.tensor([1.0, float("nan"), 2.0]))
    assert sampler.nan_losses == 1
    assert np.isnan(sampler.losses[1]) and sampler.losses[2] == 2.0


# --- the recorder -------------------------------------------------------------------------


def test_recorder_counts_forgetting_and_feeds_score():
    rec = LossRecorder(3, model="tiny", early_epoch=1)
    y = torch.tensor([0, 0, 1])
    right, wrong = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    # example 0: right, wrong, right (1 forgetting); 1: always right; 2: always wrong
    for z0 in (right, wrong, right):
        logits = torch.cat([z0, right, right])
        rec.record(torch.arange(3), logits, y)
        rec.end_epoch()
    stats = rec.statistics()
    assert stats["forgetting"].tolist() == [1.0, 0.0, 3.0]
    table = lessdata.score(np.eye(3, dtype=np.float32), ["forgetting", "aum"], dynamics=rec)
    assert table.column("forgetting").to_pylist() == [1.0, 0.0, 3.0]
    assert b"tiny, 3 epochs recorded" in table.schema.metadata[b"lessdata"]
    with pytest.raises(LessdataError, match="made for 3 examples but the data has 4"):
        lessdata.score(np.eye(4, dtype=np.float32), "forgetting", dynamics=rec)
    with pytest.raises(LessdataError, match="grand needs per-example gradients"):
        lessdata.score(np.eye(3, dtype=np.float32), "grand", dynamics=rec)


def test_recorder_refuses_unseen_examples_and_bad_batches():
    rec = LossRecorder(4)
    rec.record([0, 1], torch.zeros(2, 3), [0, 1])
    rec.end_epoch()
    with pytest.raises(LessdataError, match="2 of 4 examples were never recorded"):
        rec.statistics()
    with pytest.raises(LessdataError, match="logits must be an"):
        rec.record([0, 1], torch.zeros(3, 3), [0, 1])
    with pytest.raises(LessdataError, match="indices must be in"):
        rec.record([7], torch.zeros(1, 3), [0])


# --- results as subsets, in-memory inputs ---------------------------------------------------


def test_subset_and_mask_in_the_users_own_types():
    pd = pytest.importorskip("pandas")
    datasets = pytest.importorskip("datasets")
    x = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    result = lessdata.prune(x, 0.2, policy="random", quiet=True)
    kept = result.kept.tolist()
    assert result.mask.sum() == 10 and np.flatnonzero(result.mask).tolist() == kept
    assert np.array_equal(result.subset(x), x[kept])
    assert result.subset(list(range(50))) == kept
    assert result.subset(pd.DataFrame({"a": range(50)}))["a"].tolist() == kept
    hf = datasets.Dataset.from_dict({"a": list(range(50))})
    assert result.subset(hf)["a"] == kept
    sub = result.subset(torch.utils.data.TensorDataset(torch.arange(50)))
    assert [int(sub[i][0]) for i in range(len(sub))] == kept
    with pytest.raises(LessdataError, match="made from another dataset"):
        result.subset(x[:49])


def test_pipeline_takes_texts_frames_and_hf_datasets(tmp_path):
    pd = pytest.importorskip("pandas")
    datasets = pytest.importorskip("datasets")
    texts = [f"def f(x):\n    return x + {i % 5}" for i in range(40)]
    assert lessdata.dedup(texts, method="exact", quiet=True).n_kept == 5
    frame = pd.DataFrame({"text": texts, "label": [i % 2 for i in range(40)]})
    table = lessdata.score(frame, "prototypes", encoder="tfidf", metric_options={"k": 3},
                           quiet=True)  # fmt: skip
    assert table.num_rows == 40
    hf = datasets.Dataset.from_dict({"embedding": np.eye(40).tolist()}).select(range(10, 40))
    assert lessdata.prune(hf, 0.5, metric_options={"k": 3}, quiet=True).n_kept == 15
    result = lessdata.prune(frame, 0.5, encoder="tfidf", metric_options={"k": 3},
                            out=tmp_path / "pruned", quiet=True)  # fmt: skip
    written = {p.name for p in (tmp_path / "pruned").iterdir()}
    assert "manifest.parquet" in written and result.subset(frame).shape == (20, 2)
    with pytest.raises(LessdataError, match="must hold texts"):
        lessdata.score([1, 2, 3])
    with pytest.raises(LessdataError, match="already in memory"):
        lessdata.score(texts, split="function")


def test_the_training_loop_guide_examples_run_to_their_end(monkeypatch, capsys, tmp_path):
    """The guide's examples (run as every docs example is, by tests/test_doc_examples.py)
    also do what the guide says: the schedule ends exactly, the target saving is met."""
    pytest.importorskip("datasets")
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)
    assert len(blocks) == 2
    namespace: dict = {}
    exec(compile(blocks[0], "training-loop guide", "exec"), namespace)
    saved = float(capsys.readouterr().out.split("%")[0])
    assert namespace["scores"].num_rows == 2000
    assert len(namespace["static"].sampler) == 1000
    sampler, sched = namespace["sampler"], namespace["sched"]
    assert sched.last_epoch == sched.total_steps == sampler.total_steps(64)  # ran to its end
    assert sampler.progress == 1.0 and saved == 30  # the target, exactly
    exec(compile(blocks[1], "training-loop guide, datasets", "exec"), namespace)
    assert len(namespace["deduped"]) == len(namespace["same"]) == 7


def _rank_main(rank: int, init: str, out: str, losses: list[float]) -> None:
    import json as _json

    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        n = len(losses)
        sampler = DynamicPruningSampler(n, epochs=6, seed=4)  # rank and world from the group
        sampler.set_epoch(0)
        mine = list(sampler)  # each rank records only the losses of its own share
        sampler.update(torch.tensor(mine), torch.tensor([losses[i] for i in mine]))
        sampler.set_epoch(1)  # all-reduces the losses, then decides
        Path(out, f"rank{rank}.json").write_text(
            _json.dumps({"indices": list(sampler), "losses": sampler.losses.tolist()})
        )
    finally:
        torch.distributed.destroy_process_group()


def test_two_real_ranks_gather_losses_and_skip_the_same_examples(tmp_path):
    import json

    n = 101
    losses = np.random.default_rng(5).exponential(size=n).tolist()
    torch.multiprocessing.spawn(
        _rank_main, args=(f"file://{tmp_path / 'init'}", str(tmp_path), losses), nprocs=2
    )
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert np.allclose(ranks[0]["losses"], losses) and np.allclose(ranks[1]["losses"], losses)
    single = DynamicPruningSampler(n, epochs=6, seed=4)
    single.update(np.arange(n), torch.tensor(losses))
    single.set_epoch(1)
    assert set(ranks[0]["indices"]) | set(ranks[1]["indices"]) == set(single)
    assert len(ranks[0]["indices"]) == len(ranks[1]["indices"])
