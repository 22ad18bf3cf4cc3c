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
    table = lessdata.score(x, ["prototypes", "semdedup"], metric_options={"k": 6})
    same = np.mean(table["prototypes_cluster"].to_numpy() == table["semdedup_cluster"].to_numpy())
    assert same > 0.99  # identical but for members of tiny clusters re-homed by prototypes


def test_d4_drops_duplicates_first_and_fills_when_budget_exceeds_survivors(x):
    small = lessdata.prune(x, 200, policy="d4", metric_options={"eps": 0.01})
    dup = small.manifest["semdedup_duplicate_of"].is_valid().to_numpy(zero_copy_only=False)
    assert dup.sum() == 100
    assert not dup[small.kept].any()  # no duplicate kept while survivors suffice
    large = lessdata.prune(x, 550, policy="d4", metric_options={"eps": 0.01})
    assert large.n_kept == 550
    assert dup[large.kept].sum() == 50  # all 500 survivors + 50 least redundant duplicates


def test_array_input_with_labels_and_class_balance(x):
    labels = np.repeat(np.arange(3), 200)
    result = lessdata.prune(x, keep=90, policy="keep-hard", labels=labels, class_balanced=True)
    assert np.bincount(labels[result.kept]).tolist() == [30, 30, 30]


def test_select_accepts_a_score_column(x):
    table = lessdata.score(x, "prototypes", metric_options={"k": 6})
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


def test_a_metric_is_a_plain_function_on_arrays(x):
    scores = lessdata.metrics.prototypes(x, k=6)
    assert scores.shape == (600,) and scores.dtype == np.float64
    table = lessdata.score(x, "prototypes", metric_options={"k": 6})
    assert np.array_equal(scores, table["prototypes"].to_numpy())  # the registry adapts it
    distance = lessdata.metrics.semdedup(x, eps=0.01, k=6)
    assert (distance < 0.01).sum() == 100  # the planted near duplicates


def test_duplicates_are_functions_on_texts_and_arrays(x):
    texts = ["def f(x):\n    return x + 1", "def g(y): return y", "def f(x):  \n    return x + 1"]
    assert lessdata.duplicates.exact(texts).tolist() == [-1, -1, 0]
    long = "the quick brown fox jumps over the lazy dog and runs far away " * 4
    assert lessdata.duplicates.near([long, long + "today", "unrelated words here"]).tolist() == [
        -1,
        0,
        -1,
    ]
    duplicate_of = lessdata.duplicates.semantic(x, eps=0.01, k=6)
    assert (duplicate_of >= 0).sum() == 100


def test_errors_from_python_name_the_parameter(x):
    with pytest.raises(LessdataError, match=r"^seed must be a non-negative whole number, got -1$"):
        lessdata.prune(np.random.rand(100, 4), keep=0.5, seed=-1)
    with pytest.raises(LessdataError) as caught:
        lessdata.prune(x, 0.5, metric_options={"k": 0})
    assert caught.value.param == "k" and "--" not in str(caught.value)
    with pytest.raises(LessdataError, match="take no option ccs_beta"):
        lessdata.prune(x, 0.5, policy="keep-hard", policy_options={"ccs_beta": 0.2})
    with pytest.raises(LessdataError, match="take no option eps"):
        lessdata.prune(x, 0.5, metric="random", metric_options={"eps": 0.1})


def test_numpy_scalars_are_accepted_as_options(x):
    kept = lessdata.prune(x, 0.5, metric_options={"k": np.int64(6)}, seed=np.int64(3)).kept
    assert np.array_equal(kept, lessdata.prune(x, 0.5, metric_options={"k": 6}, seed=3).kept)
