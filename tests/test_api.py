"""The Python API: determinism, D4's fill rule, shared clustering, array inputs."""

import numpy as np
import pytest

import lessdata
from lessdata.errors import LessdataError


@pytest.fixture
def x():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 24)) * 2
    x = (centres[rng.integers(0, 6, 600)] + rng.normal(size=(600, 24))).astype(np.float32)
    x[500:600] = x[:100] + 1e-4  # 100 near duplicates
    return x


def test_same_seed_same_kept_ids_end_to_end(x):
    for policy in ("auto", "ccs", "d4", "random"):
        a = lessdata.prune(x, keep=0.3, policy=policy, seed=7).kept
        b = lessdata.prune(x, keep=0.3, policy=policy, seed=7).kept
        assert np.array_equal(a, b), policy
    assert not np.array_equal(
        lessdata.prune(x, keep=0.3, policy="random", seed=1).kept,
        lessdata.prune(x, keep=0.3, policy="random", seed=2).kept,
    )


def test_prototypes_and_semdedup_share_one_clustering(x):
    table = lessdata.score(x, ["prototypes", "semdedup"], k=6)
    same = np.mean(table["prototypes_cluster"].to_numpy() == table["semdedup_cluster"].to_numpy())
    assert same > 0.99  # identical but for members of tiny clusters re-homed by prototypes


def test_d4_drops_duplicates_first_and_fills_when_budget_exceeds_survivors(x):
    small = lessdata.prune(x, keep=200, policy="d4", eps=0.01)
    dup = small.manifest["semdedup_duplicate_of"].is_valid().to_numpy(zero_copy_only=False)
    assert dup.sum() == 100
    assert not dup[small.kept].any()  # no duplicate kept while survivors suffice
    large = lessdata.prune(x, keep=550, policy="d4", eps=0.01)
    assert large.n_kept == 550
    assert dup[large.kept].sum() == 50  # all 500 survivors + 50 least redundant duplicates


def test_array_input_with_labels_and_class_balance(x):
    labels = np.repeat(np.arange(3), 200)
    result = lessdata.prune(x, keep=90, policy="keep-hard", labels=labels, class_balanced=True)
    assert np.bincount(labels[result.kept]).tolist() == [30, 30, 30]


def test_select_accepts_a_score_column(x):
    table = lessdata.score(x, "prototypes", k=6)
    kept = lessdata.select(table["prototypes"].to_numpy(), 0.25, policy="keep-easy")
    assert len(kept) == 150


def test_input_array_is_not_modified(x):
    before = x.copy()
    lessdata.prune(x, keep=0.5, policy="d4")
    assert np.array_equal(x, before)


def test_out_file_instead_of_folder_is_refused(x, tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(LessdataError, match="is a file"):
        lessdata.prune(x, keep=0.5, out=tmp_path / "f")
