"""ICL baselines: each predicts from the first k examples only and does what its theory says."""

from __future__ import annotations

import math

import pytest
import torch

from lessdata.errors import LessdataError
from lessdata.labs.icl import baselines
from lessdata.labs.icl.baselines import (
    BASELINES,
    averaging,
    dmmse,
    gd_network,
    gd_steps_to_match,
    knn,
    least_squares,
    one_step_gd,
    ridge,
)
from lessdata.labs.icl.tasks import TaskSampler, TaskSpec

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def error_by_k(preds: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Mean squared error at each position, divided by d = 5."""
    return ((preds - ys) ** 2).mean(0) / 5


@pytest.fixture(scope="module")
def noiseless():
    return TaskSampler(TaskSpec(family="linear")).sample(4000, gen(1))


@pytest.fixture(scope="module")
def noisy():
    return TaskSampler(TaskSpec(family="noisy-linear", noise=0.5)).sample(4000, gen(2))


def test_least_squares_error_is_d_minus_k_over_d(noiseless):
    xs, ys, _ = noiseless
    error = error_by_k(least_squares(xs, ys), ys)
    for k in range(5):
        assert abs(error[k].item() - (5 - k) / 5) < 0.1 * (5 - k) / 5 + 0.01
    assert (error[5:] < 1e-6).all()


def test_ridge_beats_least_squares_on_noisy_prompts(noisy):
    xs, ys, _ = noisy
    ls = error_by_k(least_squares(xs, ys), ys)
    rr = error_by_k(ridge(xs, ys, lam=0.25), ys)
    for k in (4, 5, 6):
        assert rr[k] < ls[k]
    assert rr[10] < 0.2  # near the noise floor 0.25 / 5 plus the estimation error
    assert torch.equal(ridge(xs[:50], ys[:50], lam=0), least_squares(xs[:50], ys[:50]))
    # a larger ridge shrinks more: far from the Bayes-optimal lam, it does worse at large k
    assert error_by_k(ridge(xs, ys, lam=25.0), ys)[10] > rr[10]


def test_dmmse_single_task_pool_predicts_that_task():
    sampler = TaskSampler(TaskSpec(family="noisy-linear", pool_size=1))
    xs, ys, _ = sampler.sample(64, gen(3))
    expected = xs @ sampler.pool[0]
    for noise in (0.5, 0.0):
        assert torch.allclose(dmmse(xs, ys, sampler.pool, noise), expected, atol=1e-5)


def test_dmmse_converges_to_the_true_pool_task():
    sampler = TaskSampler(TaskSpec(family="noisy-linear", pool_size=8, n_points=41))
    xs, ys, info = sampler.sample(500, gen(4))
    preds = dmmse(xs, ys, sampler.pool, 0.5)
    clean = info["ys_clean"]
    assert ((preds[:, -1] - clean[:, -1]) ** 2).mean() < 1e-3
    # k = 0 predicts with the pool mean
    assert torch.allclose(preds[:, 0], xs[:, 0] @ sampler.pool.mean(0), atol=1e-5)
    # on pool tasks it beats ridge (the infinite-pool Bayes estimator) at small k
    assert error_by_k(preds, ys)[2] < error_by_k(ridge(xs, ys, 0.25), ys)[2]


def test_dmmse_chunks_agree(monkeypatch):
    sampler = TaskSampler(TaskSpec(pool_size=37))
    xs, ys, _ = sampler.sample(20, gen(5))
    whole = dmmse(xs, ys, sampler.pool, 0.5)
    monkeypatch.setattr(baselines, "DMMSE_CHUNK_ELEMENTS", 20 * 11 * 4)
    assert torch.allclose(dmmse(xs, ys, sampler.pool, 0.5), whole, atol=1e-5)


def test_averaging_and_one_step_gd_are_sane():
    xs, ys, _ = TaskSampler(TaskSpec(family="linear", n_points=41)).sample(2000, gen(6))
    avg = error_by_k(averaging(xs, ys), ys)
    gd = error_by_k(one_step_gd(xs, ys), ys)
    assert avg[-1] < 0.3 and gd[-1] < 0.3  # theory: about (d + 1) / k = 0.15
    assert abs(avg[-1].item() - 6 / 40) < 0.05
    assert (gd[1:] < avg[1:]).all()  # the tuned step never does worse than lr = 1
    assert torch.allclose(one_step_gd(xs, ys, lr=1.0), averaging(xs, ys))
    assert torch.allclose(one_step_gd(xs, ys, lr=0.5), 0.5 * averaging(xs, ys))


def test_knn_returns_nearest_labels():
    xs, ys, _ = TaskSampler(TaskSpec(family="linear")).sample(30, gen(7))
    preds = knn(xs, ys, k_neighbours=1)
    for b in range(30):
        for k in range(1, 11):
            nearest = (xs[b, :k] - xs[b, k]).norm(dim=1).argmin()
            assert preds[b, k] == ys[b, nearest]
    three = knn(xs, ys, k_neighbours=3)
    assert torch.allclose(three[:, 1], ys[:, 0]) and torch.allclose(three[:, 2], ys[:, :2].mean(1))
    assert (three[:, 0] == 0).all()


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_every_baseline_uses_only_earlier_examples(name):
    sampler = TaskSampler(TaskSpec(family="noisy-linear", pool_size=4))
    xs, ys, _ = sampler.sample(6, gen(8))
    options = {"ridge": {"lam": 0.25}, "dmmse": {"pool": sampler.pool, "noise": 0.5}}
    options["gd-network"] = {"steps": 5}
    fn = BASELINES[name]
    preds = fn(xs, ys, **options.get(name, {}))
    assert preds.shape == ys.shape and preds.dtype == ys.dtype
    assert torch.isfinite(preds).all()
    j = 4
    xs2, ys2 = xs.clone(), ys.clone()
    ys2[:, j:] += 3.0
    xs2[:, j + 1 :] *= -2.0
    again = fn(xs2, ys2, **options.get(name, {}))
    assert torch.allclose(again[:, : j + 1], preds[:, : j + 1], atol=1e-5)
    assert not torch.allclose(again[:, j + 1 :], preds[:, j + 1 :])


def test_gd_network_learns_and_matches_autograd():
    xs, ys, _ = TaskSampler(TaskSpec(family="linear")).sample(200, gen(9))
    trained = error_by_k(gd_network(xs, ys, steps=100), ys)
    untrained = error_by_k(gd_network(xs, ys, steps=0), ys)
    assert trained[-1] < 0.6 and trained[-1] < 0.5 * untrained[-1]
    assert torch.equal(gd_network(xs, ys, steps=3, seed=1), gd_network(xs, ys, steps=3, seed=1))
    assert not torch.equal(gd_network(xs, ys, steps=3, seed=1), gd_network(xs, ys, steps=3))

    # one hand-written GD step equals one autograd step of the same networks
    xs, ys = xs[:3], ys[:3]
    batch, n, d, hidden, lr = 3, xs.shape[1], 5, 8, 0.1
    m = n - 1
    g = torch.Generator().manual_seed(2)
    w1 = torch.randn(batch * m, d, hidden, generator=g).requires_grad_()
    w2 = torch.randn(batch * m, hidden, 1, generator=g).requires_grad_()
    b1 = torch.zeros(batch * m, 1, hidden, requires_grad=True)
    b2 = torch.zeros(batch * m, 1, 1, requires_grad=True)

    def net(x):
        pre = x @ w1 / math.sqrt(d) + b1
        return torch.relu(pre) @ w2 / math.sqrt(hidden) + b2

    loss = 0.0
    for b in range(batch):
        for k in range(1, n):
            i = b * m + k - 1
            out = net(xs[b : b + 1, :k].expand(batch * m, k, d))[i, :, 0]
            loss = loss + ((out - ys[b, :k]) ** 2).mean()
    grads = torch.autograd.grad(loss, (w1, b1, w2, b2))
    with torch.no_grad():
        for p, grad in zip((w1, b1, w2, b2), grads, strict=True):
            p -= lr * grad
        expected = net(xs[:, 1:].reshape(batch * m, 1, d)).reshape(batch, m)
    got = gd_network(xs, ys, steps=1, lr=lr, hidden=hidden, seed=2)
    assert torch.allclose(got[:, 1:], expected, atol=1e-5)


def test_gd_steps_to_match():
    xs, ys, _ = TaskSampler(TaskSpec(family="linear")).sample(500, gen(10))
    zero_error = (ys[:, -1] ** 2).mean().item() / 5
    assert gd_steps_to_match(xs, ys, zero_error + 1e-6) == 0
    loose = gd_steps_to_match(xs, ys, 0.5)
    tight = gd_steps_to_match(xs, ys, 0.05)
    assert loose is not None and tight is not None and 0 < loose < tight
    assert gd_steps_to_match(xs, ys, 0.05, max_steps=tight - 1) is None
    # one step with lr = 1 is averaging: its error is reached in one step
    avg = ((averaging(xs, ys)[:, -1] - ys[:, -1]) ** 2).mean().item() / 5
    assert gd_steps_to_match(xs, ys, avg + 1e-6, lr=1.0) <= 1
    assert gd_steps_to_match(xs, ys, 0.0, max_steps=50) is None


@pytest.mark.parametrize(
    "call",
    [
        lambda xs, ys: least_squares(xs, ys[:, :-1]),
        lambda xs, ys: least_squares(xs[0], ys[0]),
        lambda xs, ys: ridge(xs, ys, lam=-1.0),
        lambda xs, ys: dmmse(xs, ys, torch.zeros(4, 3), 0.5),
        lambda xs, ys: dmmse(xs, ys, torch.zeros(0, 5), 0.5),
        lambda xs, ys: dmmse(xs, ys, torch.zeros(4, 5), -0.5),
        lambda xs, ys: knn(xs, ys, k_neighbours=0),
        lambda xs, ys: one_step_gd(xs, ys, lr=0.0),
        lambda xs, ys: gd_network(xs, ys, steps=-1),
        lambda xs, ys: gd_network(xs, ys, lr=float("inf")),
        lambda xs, ys: gd_steps_to_match(xs, ys, float("nan")),
        lambda xs, ys: gd_steps_to_match(xs[:, :1], ys[:, :1], 0.1),
    ],
)
def test_bad_inputs_raise(call):
    xs, ys, _ = TaskSampler(TaskSpec()).sample(4, gen(0))
    with pytest.raises(LessdataError):
        call(xs, ys)
