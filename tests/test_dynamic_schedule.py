"""DynamicPruningSampler's schedule: a target saving with every epoch's size planned, exact
total_steps, progress, ProgressLR, and the rules (InfoBatch by count, SeTa, random)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lessdata.errors import LessdataError  # noqa: E402
from lessdata.torch import DynamicPruningSampler, IndexedDataset, ProgressLR  # noqa: E402
from lessdata.torch.rules import infobatch_by_count, seta_window  # noqa: E402

F = torch.nn.functional


def _task(n=600, d=10, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen)
    y = (x[:, 0] + 0.3 * x[:, 1] > 0).long()
    return IndexedDataset(torch.utils.data.TensorDataset(x, y))


def _train(sampler, data, batch, make_sched, epochs=None, set_epoch=True):
    """A user's loop: returns the learning rate of every optimizer step, the progress after
    each, and the scheduler."""
    torch.manual_seed(0)
    model = torch.nn.Linear(data[0][1].shape[0], 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = make_sched(opt)
    loader = torch.utils.data.DataLoader(data, batch_size=batch, sampler=sampler)
    lrs, progress = [], []
    for epoch in range(epochs or sampler.epochs):
        if set_epoch:
            sampler.set_epoch(epoch)
        for idx, xb, yb in loader:
            losses = F.cross_entropy(model(xb), yb, reduction="none")
            (losses * sampler.update(idx, losses)).mean().backward()
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            opt.zero_grad()
            sched.step()
            progress.append(sampler.progress)
    return lrs, progress, sched


# --- the plan -----------------------------------------------------------------------------


def test_target_saving_plans_every_epoch_and_saves_exactly_that_share():
    n, epochs = 600, 10
    sampler = DynamicPruningSampler(n, epochs=epochs, target_saving=0.4, anneal=0.2, seed=3)
    plan = sampler.plan
    assert plan[0] == plan[-1] == plan[-2] == n  # first epoch and the final 20% see all
    assert sum(n - size for size in plan) == round(0.4 * n * epochs)
    assert max(plan[1:8]) - min(plan[1:8]) <= 1  # spread evenly over epochs 1-7
    data = _task(n)
    lrs, progress, _ = _train(sampler, data, 32, lambda opt: torch.optim.lr_scheduler.LambdaLR(
        opt, lambda _: 1.0))  # fmt: skip
    assert sampler.forwards == sum(plan)  # what update received, epoch by epoch
    assert 1 - sampler.forwards / (n * epochs) == pytest.approx(0.4, abs=1e-12)
    assert len(lrs) == sampler.total_steps(32)  # the plan's steps are the steps taken
    assert progress[-1] == 1.0 and np.all(np.diff(progress) >= 0)
    assert len(progress) == sum(math.ceil(size / 32) for size in plan)


def test_onecycle_sized_by_total_steps_ends_on_its_final_value():
    """The README recipe before: ``expected_total_steps(batch) + epochs`` steps, so the
    schedule never annealed (the issue's 12-17% over-estimate). Now: exact."""
    n, batch, max_lr = 600, 32, 0.1
    final = max_lr / 25 / 1e4  # OneCycleLR's defaults: div_factor 25, final_div_factor 1e4
    data = _task(n)

    def onecycle(total):
        return lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr, total_steps=total)

    sampler = DynamicPruningSampler(n, epochs=8, target_saving=0.3, seed=0)
    total = sampler.total_steps(batch)
    lrs, _, _ = _train(sampler, data, batch, onecycle(total))
    assert len(lrs) == total
    assert lrs[-1] == pytest.approx(final, rel=1e-9)  # the last step runs at the final value
    # the old recipe with the ratio's estimate: the schedule is cut off far from its end
    ratio = DynamicPruningSampler(n, epochs=8, prune_ratio=0.5, seed=0)
    old_total = ratio.expected_total_steps(batch) + 8
    old, _, _ = _train(ratio, data, batch, onecycle(old_total))
    assert len(old) < old_total and old[-1] > 100 * final


@pytest.mark.parametrize("method", ["infobatch", "seta", "random"])
def test_progress_lr_ends_a_onecycle_on_its_final_value_whatever_the_epoch_sizes(method):
    n, batch, max_lr = 600, 32, 0.1
    final = max_lr / 25 / 1e4
    ratio = {"infobatch": 0.5, "seta": 0.1, "random": 0.3}[method]
    sampler = DynamicPruningSampler(n, epochs=6, prune_ratio=ratio, method=method, seed=1)

    def make(opt):
        return ProgressLR(torch.optim.lr_scheduler.OneCycleLR(opt, max_lr, total_steps=500),
                          sampler)  # fmt: skip

    lrs, progress, sched = _train(sampler, _task(n), batch, make)
    assert progress[-1] == 1.0 and np.all(np.diff(progress) >= 0) and progress[0] > 0
    assert sched.scheduler.last_epoch == 499  # stepped to its last step, not past it
    assert sched.get_last_lr()[0] == pytest.approx(final, rel=1e-9)
    assert lrs[-1] < 1e-3 * max_lr and max(lrs) == pytest.approx(max_lr, rel=0.05)


def test_progress_is_the_exact_share_of_planned_forwards_when_planned():
    n = 200
    sampler = DynamicPruningSampler(n, epochs=5, target_saving=0.3, seed=2)
    total = sum(sampler.plan)
    done = 0
    assert sampler.progress == 0.0
    for epoch in range(5):
        sampler.set_epoch(epoch)
        order = list(sampler)
        for i in range(0, len(order), 17):
            idx = order[i : i + 17]
            sampler.update(idx, torch.rand(len(idx)))
            done += len(idx)
            assert sampler.progress == pytest.approx(done / total, abs=1e-12)
    assert sampler.progress == 1.0


def test_total_steps_counts_batches_and_gradient_accumulation():
    sampler = DynamicPruningSampler(100, epochs=4, plan=[100, 64, 40, 100])
    assert sampler.total_steps(16) == 7 + 4 + 3 + 7
    assert sampler.total_steps(8, grad_accum=1) == 13 + 8 + 5 + 13
    message = r"grad_accum=2 does not divide the 13 batches of epoch 0 \(100 examples in batch"
    with pytest.raises(LessdataError, match=message) as e:
        sampler.total_steps(8, grad_accum=2)
    assert e.value.param == "grad_accum" and "partial_accum='step'" in str(e.value)
    assert sampler.total_steps(8, 2, partial_accum="step") == 7 + 4 + 3 + 7
    assert sampler.total_steps(8, 2, partial_accum="drop") == 6 + 4 + 2 + 6
    even = DynamicPruningSampler(96, epochs=4, plan=[96, 64, 32, 96])  # 12, 8, 4, 12 batches
    assert even.total_steps(8, grad_accum=4) == 3 + 2 + 1 + 3
    with pytest.raises(LessdataError, match="partial_accum must be one of refuse, step, drop"):
        sampler.total_steps(8, 2, partial_accum="round")
    with pytest.raises(LessdataError, match="grad_accum must be a positive whole number"):
        sampler.total_steps(8, grad_accum=0)


def test_plans_split_across_ranks_like_distributed_sampler():
    plan = [101, 60, 101]
    shares = []
    for rank in range(2):
        sampler = DynamicPruningSampler(101, epochs=3, plan=plan, num_replicas=2, rank=rank,
                                        shared_losses=True, seed=5)  # fmt: skip
        assert sampler.total_steps(10) == 6 + 3 + 6  # 51, 30, 51 per rank
        sampler.update(np.arange(101), torch.rand(101, generator=torch.Generator().manual_seed(0)))
        sampler.set_epoch(1)
        shares.append(list(sampler))
    assert len(shares[0]) == len(shares[1]) == 30 and len(set(shares[0]) | set(shares[1])) == 60


def test_ratio_mode_has_no_plan_and_says_what_to_use():
    sampler = DynamicPruningSampler(100, epochs=4, prune_ratio=0.5)
    assert sampler.plan is None
    message = r"pass target_saving \(or plan\) instead, or drive .*ProgressLR"
    with pytest.raises(LessdataError, match=message) as e:
        sampler.total_steps(10)
    assert e.value.param == "target_saving"
    # an estimate: 75 per pruning epoch (epochs 1-3; round(4 * 0.875) = 4 starts the annealing)
    assert sampler.expected_total_steps(10) == 10 + 8 + 8 + 8
    seta = DynamicPruningSampler(100, epochs=4, method="seta")  # SeTa's sizes are fixed
    assert seta.plan == [100, 72, 72, 72] and seta.total_steps(10) == 10 + 8 + 8 + 8


# --- the rules ----------------------------------------------------------------------------


def test_infobatch_by_count_skips_exactly_and_only_from_the_low_loss_pool():
    losses = np.random.default_rng(0).exponential(size=1000)
    below = int((losses < losses.mean()).sum())
    for skip in (100, 400, 600):
        keep, weights = infobatch_by_count(losses, np.random.default_rng(1), skip, 0.7)
        assert (~keep).sum() == skip
        pool = max(below, math.ceil(skip / 0.7))
        threshold = np.sort(losses)[pool - 1]
        assert (losses[~keep] <= threshold).all()  # never above the pool
        kept_pool = keep & (losses <= threshold)
        assert np.allclose(weights[kept_pool], pool / (pool - skip))
        assert np.allclose(weights[keep & (losses > threshold)], 1.0)
        assert skip / pool <= 0.7 + 1e-12


def test_infobatch_by_count_gives_the_full_data_gradient_in_expectation():
    rng = np.random.default_rng(0)
    n, d = 200, 3
    x, w_true = rng.normal(size=(n, d)), rng.normal(size=d)
    residual = -(x @ w_true + rng.normal(size=n))
    grads = residual[:, None] * x
    losses = 0.5 * residual**2
    totals = []
    for seed in range(400):
        keep, weights = infobatch_by_count(losses, np.random.default_rng(seed), 90, 0.7)
        totals.append((weights[keep, None] * grads[keep]).sum(0))
    totals = np.array(totals)
    sem = totals.std(0) / np.sqrt(len(totals))
    assert (np.abs(totals.mean(0) - grads.sum(0)) < 4 * sem).all()
    kept = [infobatch_by_count(losses, np.random.default_rng(s), 90, 0.7)[0] for s in range(50)]
    unweighted = np.array([grads[k].sum(0) for k in kept])
    assert np.abs(unweighted.mean(0) - grads.sum(0)).max() > 10 * sem.max()  # the weights matter


def test_seta_keeps_a_loss_window_that_slides_from_easy_to_hard():
    n = 1000
    losses = np.random.default_rng(0).random(n)  # a distinct loss per example
    starts = []
    for epoch in range(1, 5):
        keep, weights = seta_window(losses, np.random.default_rng(epoch), 300, epoch, 5, 4)
        assert keep.sum() == 300 and np.allclose(weights, 1.0)
        # the kept ones are consecutive in loss among the random candidates of that epoch
        candidates = np.random.default_rng(epoch).permutation(n)[:375]
        ranked = np.sort(losses[candidates])
        kept = np.sort(losses[keep])
        first = int(np.searchsorted(ranked, kept[0]))
        assert np.array_equal(ranked[first : first + 300], kept)
        starts.append(first)
    assert starts == [75, 0, 75, 0]  # window 4 of 5 groups: drops the easiest, then the hardest


def test_random_rule_skips_uniformly_at_the_planned_size():
    sampler = DynamicPruningSampler(500, epochs=3, plan=[500, 200, 500], method="random", seed=4)
    sampler.update(np.arange(500), torch.linspace(0, 1, 500))  # losses do not matter
    sampler.set_epoch(1)
    kept = np.array(list(sampler))
    assert len(kept) == 200 and abs(np.median(kept) - 250) < 40
    assert np.allclose(sampler.update(kept, torch.ones(200)).numpy(), 1.0)


def test_a_random_baseline_replays_the_epoch_sizes_of_an_infobatch_run():
    """The benchmark's random arm: the sizes InfoBatch's ratio gave, skipped at random."""
    data, batch = _task(300), 25
    infobatch = DynamicPruningSampler(300, epochs=5, prune_ratio=0.7, seed=0)
    sizes = []
    for epoch in range(5):
        infobatch.set_epoch(epoch)
        sizes.append(infobatch.epoch_size)
        for idx in torch.utils.data.DataLoader(range(300), batch_size=batch, sampler=infobatch):
            infobatch.update(idx, torch.rand(len(idx)))
    assert len(set(sizes[1:])) > 1 and sizes[0] == 300  # sizes varied with the losses
    random = DynamicPruningSampler(300, epochs=5, plan=sizes, method="random", seed=0)
    assert random.plan == sizes and random.total_steps(batch) == sum(-(-s // batch) for s in sizes)
    lrs, _, _ = _train(random, data, batch, lambda opt: torch.optim.lr_scheduler.OneCycleLR(
        opt, 0.1, total_steps=random.total_steps(batch)))  # fmt: skip
    assert random.forwards == infobatch.forwards == sum(sizes)
    assert lrs[-1] == pytest.approx(0.1 / 25 / 1e4, rel=1e-9)


def test_same_seed_same_decisions_other_seed_others():
    def decisions(seed, method):
        sampler = DynamicPruningSampler(300, epochs=4, target_saving=0.3, method=method, seed=seed)
        sampler.update(np.arange(300), torch.from_numpy(np.random.default_rng(0).random(300)))
        sampler.set_epoch(1)
        return list(sampler)

    for method in ("infobatch", "seta", "random"):
        assert decisions(0, method) == decisions(0, method) != decisions(1, method)


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message", "param"),
    [
        ({"target_saving": 0.0}, r"target_saving must be a number in \(0, 1\), got 0.0", None),
        ({"target_saving": 1.0}, r"target_saving must be a number in \(0, 1\), got 1.0", None),
        ({"target_saving": -0.2}, "target_saving must be", None),
        ({"target_saving": float("nan")}, "target_saving must be", None),
        ({"target_saving": "0.4"}, "target_saving must be", None),
        ({"target_saving": 0.4, "prune_ratio": 0.5},
         "give one of prune_ratio, target_saving and plan, not prune_ratio and target_saving",
         "target_saving"),
        ({"target_saving": 0.9}, "target_saving=0.9 cannot be reached: only epochs 1 to 6", None),
        ({"target_saving": 0.3, "epochs": 1}, "no epoch prunes", "target_saving"),
        ({"plan": [10, 5]}, r"plan must hold one size per epoch \(8\), got 2", "plan"),
        ({"plan": [10, 0, 5, 5, 5, 5, 5, 10]}, r"plan must be a whole number in \[1, 10\]", "plan"),
        ({"plan": 7}, "plan must be a list of 8 epoch sizes", "plan"),
        ({"method": "ies"}, "method must be one of infobatch, seta, random, got 'ies'", "method"),
        ({"method_options": {"groups": 3}}, "method_options of infobatch take no option groups",
         None),
        ({"method": "seta", "method_options": {"window": 0}},
         r"window must be a number in \(0, 1\]", "window"),
        ({"target_saving": 0.3, "method_options": {"max_skip": 1.0}},
         r"max_skip must be a number in \(0, 1\)", "max_skip"),
    ],
)  # fmt: skip
def test_bad_schedule_settings_are_refused_naming_the_parameter(kwargs, message, param):
    with pytest.raises(LessdataError, match=message) as e:
        DynamicPruningSampler(**{"n": 10, "epochs": 8, **kwargs})
    if param:
        assert e.value.param == param


def test_progress_lr_refuses_a_scheduler_of_unknown_length():
    opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    sampler = DynamicPruningSampler(10, epochs=2)
    step = torch.optim.lr_scheduler.StepLR(opt, 5)
    with pytest.raises(LessdataError, match="steps is needed: a StepLR does not say") as e:
        ProgressLR(step, sampler)
    assert e.value.param == "steps"
    assert ProgressLR(step, sampler, steps=40).steps == 40
    with pytest.raises(LessdataError, match="scheduler must be a learning-rate scheduler"):
        ProgressLR(opt, sampler)
    with pytest.raises(LessdataError, match="sampler must have a progress"):
        ProgressLR(torch.optim.lr_scheduler.LinearLR(opt, total_iters=5), object())
    assert ProgressLR(torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=9), sampler).steps == 9


def test_epochs_run_forward():
    sampler = DynamicPruningSampler(10, epochs=4)
    sampler.set_epoch(2)
    sampler.set_epoch(2)  # the current epoch again: nothing changes
    with pytest.raises(LessdataError, match="epoch=1 but the sampler is at epoch 2: epochs run "
                                            "forward") as e:  # fmt: skip
        sampler.set_epoch(1)
    assert e.value.param == "epoch"
