"""The Lightning integration: examples/lightning_callback.py runs in the tests, takes the planned
steps with its one-cycle schedule ending at its final value, resumes from a mid-epoch
checkpoint exactly, and refuses settings that would break the plan."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("lightning.pytorch")

from lessdata.errors import LessdataError  # noqa: E402
from lessdata.integrations.lightning import DynamicPruningCallback, pruned_loss  # noqa: E402
from lessdata.torch import DynamicPruningSampler, IndexedDataset  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "lightning_callback.py"


@pytest.fixture(scope="module")
def example():
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    spec = importlib.util.spec_from_file_location("lightning_callback_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_example_trains_the_planned_steps_and_ends_its_schedule(example):
    result = example.train()
    assert result["steps"] == result["planned_steps"] == len(result["learning_rates"])
    assert result["learning_rates"][-1] == pytest.approx(
        0.05 / 25 / 1e4, rel=1e-9
    )  # OneCycle's end
    assert result["saved"] == pytest.approx(0.3, abs=1 / (1024 * 6))
    assert result["sampler"].progress == 1.0 and result["accuracy"] > 0.8


def test_the_example_runs_as_a_script(example, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["lightning_callback.py", "--epochs", "3"])
    example.main()
    assert "30% of example-forwards saved" in capsys.readouterr().out


@pytest.mark.parametrize("step", [20, 25])  # inside epoch 1; the end of epoch 1
def test_fitting_resumed_from_a_checkpoint_ends_where_the_whole_run_ends(example, tmp_path, step):
    whole = example.train(root=str(tmp_path / "whole"), save_every=step)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's "dataloader is not resumable": it is
        checkpoint = str(tmp_path / "whole" / f"step={step}.ckpt")
        resumed = example.train(root=str(tmp_path / "again"), checkpoint=checkpoint)
    a, b = whole["model"].state_dict(), resumed["model"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["steps"] == whole["steps"]
    assert resumed["learning_rates"] == whole["learning_rates"][step:]
    assert resumed["sampler"].forwards == whole["sampler"].forwards
    assert np.array_equal(resumed["sampler"].losses, whole["sampler"].losses)


class _Module(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(3, 2)

    def training_step(self, batch, batch_idx):
        idx, x, y = batch
        losses = torch.nn.functional.cross_entropy(self.layer(x), y, reduction="none")
        return pruned_loss(self, idx, losses)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(sampler, loader_sampler=None, callbacks=None, **options):
    data = IndexedDataset(torch.utils.data.TensorDataset(torch.randn(64, 3),
                                                         torch.randint(0, 2, (64,))))  # fmt: skip
    loader = torch.utils.data.DataLoader(data, batch_size=8, sampler=loader_sampler or sampler)
    settings = {"max_epochs": sampler.epochs, "accelerator": "cpu", "devices": 1,
                "logger": False, "enable_progress_bar": False, "enable_model_summary": False,
                "enable_checkpointing": False, **options}  # fmt: skip
    cbs = [DynamicPruningCallback(sampler)] if callbacks is None else callbacks
    trainer = pl.Trainer(callbacks=cbs, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(_Module(), loader)
    return trainer


def test_every_epoch_runs_to_its_own_length():
    """Lightning ends an epoch after len(loader) batches as last read: a short first epoch
    must not cut the longer ones after it."""
    plan = [24, 64, 40, 64]
    sampler = DynamicPruningSampler(64, epochs=4, plan=plan, seed=0)
    trainer = _fit(sampler)
    assert sampler.forwards == sum(plan) and sampler.progress == 1.0
    assert trainer.global_step == sum(-(-size // 8) for size in plan)
    ratio = DynamicPruningSampler(64, epochs=4, prune_ratio=0.7, seed=0)
    _fit(ratio)
    assert ratio.progress == 1.0 and ratio.epochs_done == 4 and ratio.forwards < 64 * 4


@pytest.mark.parametrize(
    ("options", "param", "message"),
    [
        ({"max_epochs": 3}, "max_epochs", "max_epochs=3 but the sampler was made for epochs=4"),
        ({"max_steps": 5}, "max_steps", "max_steps=5 would end the run inside"),
        ({"limit_train_batches": 0.5}, "limit_train_batches", "cut every epoch short"),
        ({"reload_dataloaders_every_n_epochs": 2}, "reload_dataloaders_every_n_epochs",
         "read the training DataLoader's length every epoch"),
    ],
)  # fmt: skip
def test_settings_that_break_the_plan_are_refused(options, param, message):
    with pytest.raises(LessdataError, match=message) as e:
        _fit(DynamicPruningSampler(64, epochs=4, target_saving=0.3), **options)
    assert e.value.param == param


def test_a_loader_without_the_sampler_or_a_loss_without_the_callback_is_refused():
    sampler = DynamicPruningSampler(64, epochs=2, target_saving=0.2)
    with pytest.raises(LessdataError, match="does not draw with this callback's sampler"):
        _fit(sampler, loader_sampler=DynamicPruningSampler(64, epochs=2, target_saving=0.2))
    with pytest.raises(LessdataError, match="found no DynamicPruningCallback"):
        _fit(sampler, callbacks=[])
    with pytest.raises(LessdataError, match="sampler must be a DynamicPruningSampler"):
        DynamicPruningCallback(object())


def test_a_missing_framework_names_the_extra(monkeypatch):
    for name in ("lessdata.integrations.lightning", "lessdata.integrations.hf"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setitem(sys.modules, "lightning.pytorch", None)
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(LessdataError, match=r"pip install 'lessdata\[integrations\]'"):
        importlib.import_module("lessdata.integrations.lightning")
    with pytest.raises(LessdataError, match=r"pip install 'lessdata\[integrations\]'"):
        importlib.import_module("lessdata.integrations.hf")
