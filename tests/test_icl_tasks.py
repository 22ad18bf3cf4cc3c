"""ICL tasks: families, pools, caps and distribution shifts produce what they name."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import special, stats

from lessdata.errors import LessdataError
from lessdata.labs.icl.tasks import (
    FAMILIES,
    SHIFTS,
    TaskSampler,
    TaskSpec,
    cap_angles,
    sample_cap_directions,
    skewed_eigenvalues,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("family", FAMILIES)
def test_families_shapes_finite_and_deterministic(family):
    sampler = TaskSampler(TaskSpec(family=family, d=4, n_points=7))
    xs, ys, info = sampler.sample(32, gen(3))
    assert xs.shape == (32, 7, 4) and ys.shape == (32, 7)
    assert xs.dtype == ys.dtype == torch.float32
    assert torch.isfinite(xs).all() and torch.isfinite(ys).all()
    assert (info["task_index"] == -1).all()
    assert (info["w"] is None) == (family in ("relu-net", "tree"))
    again = sampler.sample(32, gen(3))
    assert torch.equal(xs, again[0]) and torch.equal(ys, again[1])
    other = sampler.sample(32, gen(4))
    assert not torch.equal(ys, other[1])


def test_linear_labels_and_noise():
    clean = TaskSampler(TaskSpec(family="linear"))
    xs, ys, info = clean.sample(500, gen(1))
    assert torch.allclose(ys, torch.einsum("bnd,bd->bn", xs, info["w"]), atol=1e-5)
    noisy = TaskSampler(TaskSpec(family="noisy-linear", noise=0.5))
    xs, ys, info = noisy.sample(2000, gen(1))
    residual = ys - info["ys_clean"]
    assert abs(residual.var().item() - 0.25) < 0.02
    assert abs((ys**2).mean().item() - (5 + 0.25)) < 0.4


def test_sparse_linear_has_sparsity_nonzeros():
    sampler = TaskSampler(TaskSpec(family="sparse-linear", d=6, sparsity=2))
    _, _, info = sampler.sample(300, gen(2))
    assert ((info["w"] != 0).sum(1) == 2).all()
    # every coordinate is used by some task: the support is drawn, not fixed
    assert ((info["w"] != 0).any(0)).all()


def test_relu_net_scale_and_tree_routing():
    relu = TaskSampler(TaskSpec(family="relu-net", d=5, hidden=100))
    _, ys, _ = relu.sample(1000, gen(5))
    assert 0.8 * 5 < (ys**2).mean().item() < 1.2 * 5  # E y^2 = d, as linear regression

    spec = TaskSpec(family="tree", d=3, depth=3, pool_size=2)
    tree = TaskSampler(spec)
    xs, ys, info = tree.sample(6, gen(6))
    params = tree.pool_params
    for b in range(6):
        task = int(info["task_index"][b])
        for i in range(xs.shape[1]):
            node = 0
            for _ in range(spec.depth):
                coordinate = int(params["feature"][task, node])
                node = 2 * node + 1 + int(xs[b, i, coordinate] > 0)
            expected = params["leaf"][task, node - (2**spec.depth - 1)]
            assert ys[b, i] == expected
    _, ys, _ = tree.sample(50, gen(7), n_points=40)
    assert max(len(torch.unique(row)) for row in ys) <= 2**spec.depth


def test_pool_prompts_use_only_pool_tasks_and_fresh_differs():
    spec = TaskSpec(family="noisy-linear", pool_size=8, pool_seed=3)
    sampler = TaskSampler(spec)
    _, _, info = sampler.sample(400, gen(0), source="train")
    index = info["task_index"]
    assert index.min() >= 0 and index.max() < 8
    assert len(torch.unique(index)) == 8
    assert torch.equal(info["w"], sampler.pool[index])
    assert len(torch.unique(info["w"], dim=0)) == 8
    # the pool depends only on pool_seed: a second sampler holds the same tasks
    assert torch.equal(TaskSampler(spec).pool, sampler.pool)
    assert not torch.equal(TaskSampler(TaskSpec(pool_size=8, pool_seed=4)).pool, sampler.pool)
    pool_view = sampler.sample(400, gen(0), source="pool")
    assert torch.equal(pool_view[2]["task_index"], index)
    _, _, fresh = sampler.sample(400, gen(0), source="fresh")
    assert (fresh["task_index"] == -1).all()
    distance = torch.cdist(fresh["w"], sampler.pool)
    assert distance.min() > 1e-4


def test_nonlinear_pools():
    relu = TaskSampler(TaskSpec(family="relu-net", pool_size=3))
    xs, ys, info = relu.sample(60, gen(1))
    assert relu.pool is None and set(info["task_index"].tolist()) <= {0, 1, 2}
    v = relu.pool_params["v"][info["task_index"]]
    a = relu.pool_params["a"][info["task_index"]]
    expected = torch.einsum("bnh,bh->bn", torch.relu(torch.einsum("bnd,bhd->bnh", xs, v)), a)
    assert torch.allclose(ys, expected, atol=1e-5)
    tree = TaskSampler(TaskSpec(family="tree", pool_size=3))
    _, ys, info = tree.sample(60, gen(1))
    leaves = tree.pool_params["leaf"][info["task_index"]]
    assert (ys[..., None] == leaves[:, None, :]).any(-1).all()


def test_skewed_covariance_has_target_eigenvalues():
    sampler = TaskSampler(TaskSpec(family="linear"))
    xs, _, info = sampler.sample(3000, gen(11), shift="skewed-covariance")
    assert info["strength"] == 2.0
    points = xs.reshape(-1, 5).double()
    eig = torch.linalg.eigvalsh(points.T @ points / len(points)).flip(0)
    target = skewed_eigenvalues(5, 2.0).double()
    assert abs(target.sum().item() - 5) < 1e-5
    assert torch.allclose(eig, target, rtol=0.06)
    # the eigenbasis is a random rotation, not the coordinate axes
    cov = points.T @ points / len(points)
    assert (cov - torch.diag(torch.diagonal(cov))).abs().max() > 0.05


def test_subspace_inputs_have_rank_half_d():
    sampler = TaskSampler(TaskSpec(family="linear", d=6))
    xs, _, info = sampler.sample(1000, gen(2), shift="subspace")
    assert info["strength"] == 3
    points = xs.reshape(-1, 6).double()
    singular = torch.linalg.svdvals(points) / torch.linalg.svdvals(points)[0]
    assert (singular[:3] > 0.5).all() and (singular[3:] < 1e-5).all()  # rank 3 = d // 2
    assert abs((points**2).sum(1).mean().item() - 6) < 0.2


def test_scaled_inputs_and_weights_second_moments():
    sampler = TaskSampler(TaskSpec(family="linear"))
    xs, _, _ = sampler.sample(1000, gen(3), shift="scaled-inputs", strength=3.0)
    assert abs((xs**2).mean().item() - 9) < 0.3
    xs, ys, info = sampler.sample(3000, gen(4), shift="scaled-weights")
    assert abs((info["w"] ** 2).mean().item() - 4) < 0.25
    assert torch.allclose(ys, torch.einsum("bnd,bd->bn", xs, info["w"]), atol=1e-4)
    assert abs((xs**2).mean().item() - 1) < 0.05


def test_noisy_labels_add_variance():
    sampler = TaskSampler(TaskSpec(family="noisy-linear", noise=0.5))
    _, ys, info = sampler.sample(3000, gen(5), shift="noisy-labels", strength=1.5)
    added = (ys - info["ys_clean"]).var().item()
    assert abs(added - (0.25 + 1.5**2)) < 0.1
    assert abs((ys - info["ys_unshifted"]).var().item() - 1.5**2) < 0.1
    assert abs((info["ys_unshifted"] - info["ys_clean"]).var().item() - 0.25) < 0.02
    _, ys, info = sampler.sample(3000, gen(5), shift="noisy-labels")
    assert abs((ys - info["ys_clean"]).var().item() - 1.25) < 0.06


def test_orthants_context_shares_sign_and_query_opposite():
    sampler = TaskSampler(TaskSpec(family="linear"))
    xs, _, info = sampler.sample(200, gen(6), shift="orthants")
    assert info["final_only"] is True
    signs = torch.sign(xs)
    context = signs[:, :-1]
    assert (context == context[:, :1]).all()
    assert (signs[:, -1] == -signs[:, 0]).all()
    # the orthant differs between prompts
    assert len(torch.unique(signs[:, 0], dim=0)) > 10


def test_cap_directions_inside_outside_and_uniform():
    g = gen(7)
    inside = sample_cap_directions(4000, 5, 40.0, g)
    outside = sample_cap_directions(4000, 5, 40.0, g, outside=True)
    assert torch.allclose(inside.norm(dim=1), torch.ones(4000), atol=1e-5)
    assert cap_angles(inside).max() <= 40.0 + 1e-3
    assert cap_angles(outside).min() > 40.0 - 1e-3
    # uniform on the cap: the share within 20 degrees is the ratio of cap measures
    a = (5 - 1) / 2

    def measure(deg):
        return special.betainc(a, a, (1 - math.cos(math.radians(deg))) / 2)

    share = (cap_angles(inside) <= 20).float().mean().item()
    assert abs(share - measure(20) / measure(40)) < 0.03
    # 180 degrees is the whole sphere: first coordinate t has (1 + t)/2 ~ Beta(2, 2)
    full = sample_cap_directions(4000, 5, 180.0, g)
    assert abs(full[:, 0].mean().item()) < 0.05
    assert stats.kstest(((1 + full[:, 0]) / 2).numpy(), stats.beta(a, a).cdf).pvalue > 0.001
    # the other coordinates are symmetric too
    assert full.mean(0).abs().max() < 0.05
    # small caps in higher dimension stay exact
    tight = sample_cap_directions(500, 20, 5.0, g)
    assert cap_angles(tight).max() <= 5.0 + 1e-3 and cap_angles(tight).min() > 0.5
    # d = 2: the angle is uniform on [0, cap]
    flat = cap_angles(sample_cap_directions(4000, 2, 90.0, g))
    assert abs(flat.mean().item() - 45) < 1.5


def test_cap_in_sampler_train_outside_and_fresh():
    sampler = TaskSampler(TaskSpec(family="linear", cap_angle=30.0))
    _, _, train = sampler.sample(2000, gen(8))
    assert cap_angles(train["w"]).max() <= 30 + 1e-3
    assert abs((train["w"] ** 2).sum(1).mean().item() - 5) < 0.3  # chi_d radius
    _, _, out = sampler.sample(500, gen(8), shift="outside-cap")
    assert cap_angles(out["w"]).min() > 30 - 1e-3
    _, _, fresh = sampler.sample(500, gen(8), source="fresh")
    assert cap_angles(fresh["w"]).max() > 60
    pooled = TaskSampler(TaskSpec(family="linear", cap_angle=30.0, pool_size=50))
    assert cap_angles(pooled.pool).max() <= 30 + 1e-3


def test_curriculum_and_n_points():
    sampler = TaskSampler(TaskSpec(family="linear", d=6))
    xs, ys, _ = sampler.sample(16, gen(9), d_active=2, n_points=4)
    assert xs.shape == (16, 4, 6) and ys.shape == (16, 4)
    assert (xs[..., 2:] == 0).all() and (xs[..., :2] != 0).all()


@pytest.mark.parametrize(
    "fields",
    [
        {"family": "cubic"},
        {"d": 0},
        {"d": True},
        {"n_points": 0},
        {"noise": -0.1},
        {"noise": float("nan")},
        {"pool_size": 0},
        {"pool_size": 2.5},
        {"cap_angle": 0},
        {"cap_angle": 181},
        {"family": "relu-net", "cap_angle": 30},
        {"family": "sparse-linear", "d": 3, "sparsity": 4},
        {"depth": 0},
        {"hidden": 0},
    ],
)
def test_bad_specs_raise(fields):
    with pytest.raises(LessdataError):
        TaskSpec(**fields).check()
    with pytest.raises(LessdataError):
        TaskSampler(TaskSpec(**fields))


@pytest.mark.parametrize(
    ("spec", "options"),
    [
        ({}, {"source": "test"}),
        ({}, {"shift": "rotated"}),
        ({}, {"shift": "none", "strength": 2.0}),
        ({}, {"shift": "orthants", "strength": 1.0}),
        ({}, {"shift": "subspace", "strength": 6}),
        ({}, {"shift": "subspace", "strength": 1.5}),
        ({}, {"shift": "scaled-inputs", "strength": 0}),
        ({}, {"shift": "noisy-labels", "strength": -1}),
        ({}, {"shift": "outside-cap"}),
        ({"cap_angle": 180}, {"shift": "outside-cap"}),
        ({"family": "tree"}, {"shift": "scaled-weights"}),
        ({}, {"d_active": 0}),
        ({}, {"d_active": 6}),
        ({}, {"n_points": 0}),
    ],
)
def test_bad_sample_options_raise(spec, options):
    sampler = TaskSampler(TaskSpec(**spec))
    with pytest.raises(LessdataError):
        sampler.sample(4, gen(0), **options)


def test_every_shift_runs_for_linear_family():
    sampler = TaskSampler(TaskSpec(family="noisy-linear", cap_angle=45.0, pool_size=4))
    for shift in SHIFTS:
        xs, ys, info = sampler.sample(8, gen(10), shift=shift)
        assert xs.shape == (8, 11, 5) and torch.isfinite(ys).all()
        assert info["shift"] == shift
