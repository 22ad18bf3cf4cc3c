"""Both samplers resume from a state_dict: a run killed mid-epoch and resumed continues with
exactly the indices and weights of an uninterrupted one; a state of another run is refused."""

from __future__ import annotations

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lessdata.errors import LessdataError  # noqa: E402
from lessdata.torch import DynamicPruningSampler, ProgressLR, PrunedSampler  # noqa: E402

N, EPOCHS, BATCH = 300, 6, 32
SETTINGS = {
    "infobatch ratio": {"prune_ratio": 0.5},
    "infobatch target": {"target_saving": 0.35},
    "seta": {"method": "seta", "prune_ratio": 0.2},
    "random target": {"method": "random", "target_saving": 0.3},
}


def _loss(epoch, idx):
    """A loss that depends on the example and the epoch only (a model would be deterministic
    too, given its own checkpoint)."""
    rng = np.random.default_rng(epoch)
    table = rng.exponential(size=N) / (1 + epoch)
    return torch.from_numpy(table[np.asarray(idx)])


def _saved(state):
    """Through torch.save and a weights-only load: plain data only."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def _run(sampler, log, *, first_epoch=0, stop=None, set_epoch=True):
    """Train over a DataLoader; ``stop=(epoch, batch)`` kills the run before that batch and
    returns the sampler's state."""
    data = torch.utils.data.TensorDataset(torch.arange(N))
    loader = torch.utils.data.DataLoader(data, batch_size=BATCH, sampler=sampler)
    for epoch in range(first_epoch, EPOCHS):
        if set_epoch:
            sampler.set_epoch(epoch)
        for b, (idx,) in enumerate(loader):
            if stop == (epoch, b):
                return _saved(sampler.state_dict())
            weights = sampler.update(idx, _loss(epoch, idx))
            log.append((epoch, idx.tolist(), weights.tolist(), round(sampler.progress, 12)))
    return None


@pytest.mark.parametrize("name", list(SETTINGS))
@pytest.mark.parametrize("set_epoch", [True, False])
def test_a_run_killed_mid_epoch_resumes_with_the_same_indices_and_weights(name, set_epoch):
    make = lambda: DynamicPruningSampler(N, epochs=EPOCHS, seed=7, **SETTINGS[name])  # noqa: E731
    whole: list = []
    _run(make(), whole, set_epoch=set_epoch)
    for stop in [(2, 3), (0, 5), (4, 0)]:
        resumed: list = []
        state = _run(make(), resumed, stop=stop, set_epoch=set_epoch)
        assert state is not None
        sampler = make()  # a new process: a new sampler, then the saved state
        sampler.load_state_dict(state)
        _run(sampler, resumed, first_epoch=stop[0], set_epoch=set_epoch)
        assert resumed == whole, stop
        assert sampler.forwards == sum(len(entry[1]) for entry in whole)


def test_resuming_without_the_state_would_differ():
    """The test above can fail: a fresh sampler from the kill point is not the same run."""
    make = lambda: DynamicPruningSampler(N, epochs=EPOCHS, seed=7, prune_ratio=0.5)  # noqa: E731
    whole: list = []
    _run(make(), whole)
    resumed: list = []
    _run(make(), resumed, stop=(2, 3))
    _run(make(), resumed, first_epoch=2)
    assert resumed != whole


def test_the_state_is_plain_data_and_round_trips_the_progress():
    sampler = DynamicPruningSampler(N, epochs=EPOCHS, target_saving=0.3, seed=1)
    log: list = []
    state = _run(sampler, log, stop=(3, 2))
    assert set(state) == {"kind", "format", "settings", "losses", "fresh", "tally", "yielded",
                          "epoch", "current"}  # fmt: skip
    loaded = DynamicPruningSampler(N, epochs=EPOCHS, target_saving=0.3, seed=1)
    loaded.load_state_dict(state)
    assert loaded.progress == pytest.approx(log[-1][3], abs=1e-12)
    assert loaded.forwards == sampler.forwards and loaded.epoch == 3
    assert np.array_equal(loaded.losses, sampler.losses, equal_nan=True)


def test_a_state_shares_memory_like_a_module_state_dict():
    sampler = DynamicPruningSampler(10, epochs=3)
    sampler.set_epoch(0)
    state = sampler.state_dict()
    sampler.update([1, 2], torch.tensor([0.5, 0.25]))
    assert float(state["losses"][1]) == 0.5 and int(state["current"]["trained"][0]) == 2
    copy = _saved(state)
    sampler.update([3], torch.tensor([1.0]))
    assert int(copy["current"]["trained"][0]) == 2  # a saved state no longer moves


@pytest.mark.parametrize(
    ("saved", "loading", "param", "message"),
    [
        ({"n": 300}, {"n": 299}, "n", "n=299 but the state was saved with n=300: it was saved "
                                      "for a dataset of another length"),
        ({"seed": 1}, {"seed": 2}, "seed", "seed=2 but the state was saved with seed=1"),
        ({"epochs": 6}, {"epochs": 8}, "epochs", "epochs=8 but the state was saved with epochs=6"),
        ({"prune_ratio": 0.5}, {"prune_ratio": 0.7}, "prune_ratio", "another rule"),
        ({"prune_ratio": 0.5}, {"target_saving": 0.3}, "prune_ratio", "prune_ratio=None"),
        ({"target_saving": 0.3}, {"target_saving": 0.4}, "target_saving", "target_saving=0.4"),
        ({"method": "seta"}, {"method": "infobatch"}, "method", "method='infobatch'"),
        ({"num_replicas": 2, "rank": 0, "shared_losses": True},
         {"num_replicas": 2, "rank": 1, "shared_losses": True}, "rank", "its own share"),
    ],
)  # fmt: skip
def test_resuming_another_run_is_refused_naming_the_setting(saved, loading, param, message):
    base = {"n": 300, "epochs": 6, "seed": 0}
    state = DynamicPruningSampler(**{**base, **saved}).state_dict()
    target = DynamicPruningSampler(**{**base, **loading})
    with pytest.raises(LessdataError, match=message) as e:
        target.load_state_dict(state)
    assert e.value.param == param
    assert target.epoch == -1  # nothing was loaded


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"kind": "PrunedSampler"}, "state_dict must be what DynamicPruningSampler.state_dict"),
        ([1, 2], "state_dict must be what DynamicPruningSampler.state_dict"),
        ({"kind": "DynamicPruningSampler", "format": 99}, "layout 99"),
    ],
)
def test_damaged_states_are_refused(state, message):
    with pytest.raises(LessdataError, match=message):
        DynamicPruningSampler(10, epochs=2).load_state_dict(state)
    good = DynamicPruningSampler(10, epochs=2).state_dict()
    good["losses"] = good["losses"][:5]
    with pytest.raises(LessdataError, match=r"'losses' has shape \(5,\), expected \(10,\)"):
        DynamicPruningSampler(10, epochs=2).load_state_dict(good)


# --- PrunedSampler -------------------------------------------------------------------------


def test_pruned_sampler_resumes_mid_epoch_and_refuses_other_rows():
    kept = np.arange(0, 200, 3)
    whole, resumed = [], []
    sampler = PrunedSampler(kept, seed=4)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        whole += list(sampler)
    sampler = PrunedSampler(kept, seed=4)
    sampler.set_epoch(0)
    resumed += list(sampler)
    sampler.set_epoch(1)
    it = iter(sampler)
    resumed += [next(it) for _ in range(20)]
    state = _saved(sampler.state_dict())
    fresh = PrunedSampler(kept, seed=4)
    fresh.load_state_dict(state)
    for epoch in (1, 2):
        fresh.set_epoch(epoch)  # the loaded epoch again keeps its position
        resumed += list(fresh)
    assert resumed == whole
    with pytest.raises(LessdataError, match="it was saved for another set of kept rows") as e:
        PrunedSampler(kept[1:], seed=4).load_state_dict(state)
    assert e.value.param == "rows"
    with pytest.raises(LessdataError, match="seed=5 but the state was saved with seed=4"):
        PrunedSampler(kept, seed=5).load_state_dict(state)


def test_progress_lr_state_round_trips():
    sampler = DynamicPruningSampler(N, epochs=EPOCHS, prune_ratio=0.5, seed=0)
    opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    sched = ProgressLR(torch.optim.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=100), sampler)
    _run(sampler, [], stop=(2, 1))
    opt.step()
    sched.step()
    state = _saved(sched.state_dict())
    opt2 = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    again = ProgressLR(torch.optim.lr_scheduler.OneCycleLR(opt2, 0.1, total_steps=100), sampler)
    opt2.load_state_dict(opt.state_dict())
    again.load_state_dict(state)
    assert again.taken == sched.taken > 0 and again.get_last_lr() == sched.get_last_lr()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] < 0.1


# --- torchdata's StatefulDataLoader ---------------------------------------------------------


@pytest.mark.parametrize("workers", [0, 2])
def test_stateful_dataloader_saves_and_restores_the_sampler(workers):
    stateful = pytest.importorskip("torchdata.stateful_dataloader")
    data = torch.utils.data.TensorDataset(torch.arange(N))

    def loop(loader, sampler, log, first_epoch=0, stop=None):
        for epoch in range(first_epoch, EPOCHS):
            sampler.set_epoch(epoch)
            for b, (idx,) in enumerate(loader):
                weights = sampler.update(idx, _loss(epoch, idx))
                log.append((epoch, idx.tolist(), weights.tolist()))
                if stop == (epoch, b):
                    return _saved(loader.state_dict())
        return None

    def make():
        sampler = DynamicPruningSampler(N, epochs=EPOCHS, target_saving=0.3, seed=2)
        loader = stateful.StatefulDataLoader(data, batch_size=BATCH, sampler=sampler,
                                             num_workers=workers)  # fmt: skip
        return sampler, loader

    whole: list = []
    loop(*make()[::-1], whole)
    resumed: list = []
    state = loop(*make()[::-1], resumed, stop=(2, 3))
    sampler, loader = make()
    loader.load_state_dict(state)
    loop(loader, sampler, resumed, first_epoch=2)
    assert resumed == whole
