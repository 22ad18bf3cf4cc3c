"""The Hugging Face Trainer integration: examples/hf_trainer.py runs in the tests, takes the
planned steps with the schedule ending at its final value, saves the planned share, resumes
from its checkpoints exactly, and refuses settings that would break the plan."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")
datasets = pytest.importorskip("datasets")

from transformers import TrainingArguments  # noqa: E402

from lessdata.errors import LessdataError  # noqa: E402
from lessdata.integrations.hf import PruningTrainer, causal_lm_loss  # noqa: E402
from lessdata.torch import DynamicPruningSampler, ProgressLR, with_index  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "hf_trainer.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("hf_trainer_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_example_trains_the_planned_steps_and_ends_its_schedule(example, tmp_path):
    result = example.train(str(tmp_path))
    assert result["steps"] == result["planned_steps"]  # max_steps from the plan, all taken
    assert result["last_lr"] == 0.0  # the linear decay reached its end
    assert result["saved"] == pytest.approx(0.3, abs=1 / (1024 * 6))  # to one forward
    assert result["sampler"].progress == 1.0
    assert result["accuracy"] > 0.8


def test_the_example_runs_as_a_script(example, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["hf_trainer.py", "--epochs", "3"])
    example.main()
    out = capsys.readouterr().out
    assert "30% of example-forwards saved" in out and "final learning rate 0" in out


def test_a_trainer_resumed_from_a_checkpoint_mid_epoch_ends_where_the_whole_run_ends(
    example, tmp_path
):
    whole = example.train(str(tmp_path / "whole"), save_steps=25)  # checkpoint-25: epoch 2
    resumed = example.train(str(tmp_path / "again"), resume=str(tmp_path / "whole" /
                                                                "checkpoint-25"))  # fmt: skip
    a, b = whole["model"].state_dict(), resumed["model"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # same batches, weights and learning rates
    assert resumed["sampler"].forwards == whole["sampler"].forwards
    assert np.array_equal(resumed["sampler"].losses, whole["sampler"].losses)
    assert resumed["steps"] == whole["steps"]
    fresh = example.train(str(tmp_path / "fresh"), epochs=6)
    assert all(torch.equal(a[k], fresh["model"].state_dict()[k]) for k in a)  # deterministic


def _trainer(tmp_path, sampler, n=64, dataset=None, **overrides):
    ds = datasets.Dataset.from_dict(
        {"x": np.random.default_rng(0).normal(size=(n, 4)).tolist(), "labels": [0, 1] * (n // 2)}
    )
    settings = {"output_dir": str(tmp_path), "num_train_epochs": sampler.epochs,
                "per_device_train_batch_size": 8, "report_to": "none", "use_cpu": True,
                "disable_tqdm": True, "logging_strategy": "no", "save_strategy": "no",
                **overrides}  # fmt: skip

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(4, 2)

        def forward(self, x, labels=None):
            return {"logits": self.layer(x)}

    return PruningTrainer(model=Model(), args=TrainingArguments(**settings),
                          train_dataset=with_index(ds) if dataset is None else dataset,
                          pruning_sampler=sampler)  # fmt: skip


def test_a_ratio_sampler_gets_a_progress_driven_schedule(tmp_path):
    sampler = DynamicPruningSampler(64, epochs=5, prune_ratio=0.7, seed=0)
    trainer = _trainer(tmp_path, sampler, lr_scheduler_type="cosine", gradient_accumulation_steps=3)
    trainer.train()
    assert isinstance(trainer.lr_scheduler, ProgressLR)
    assert trainer.lr_scheduler.get_last_lr()[0] == pytest.approx(0.0, abs=1e-12)
    assert sampler.progress == 1.0 and sampler.forwards < 64 * 5
    assert trainer.state.global_step < 5 * 3  # fewer than the full epochs' ceil(8 / 3) steps


@pytest.mark.parametrize(
    ("overrides", "param", "message"),
    [
        ({"num_train_epochs": 3}, "num_train_epochs",
         "num_train_epochs=3 but pruning_sampler was made for epochs=4"),
        ({"max_steps": 10}, "max_steps", "max_steps=10: PruningTrainer sets it"),
        ({"dataloader_drop_last": True}, "dataloader_drop_last", "untrained"),
    ],
)  # fmt: skip
def test_settings_that_break_the_plan_are_refused(tmp_path, overrides, param, message):
    sampler = DynamicPruningSampler(64, epochs=4, target_saving=0.3)
    with pytest.raises(LessdataError, match=message) as e:
        _trainer(tmp_path, sampler, **overrides)
    assert e.value.param == param


def test_a_dataset_without_the_index_or_of_another_size_is_refused(tmp_path):
    ds = datasets.Dataset.from_dict({"x": [[0.0] * 4] * 64, "labels": [0] * 64})
    sampler = DynamicPruningSampler(64, epochs=2, target_saving=0.2)
    with pytest.raises(LessdataError, match=r"has no 'index' column .*with_index") as e:
        _trainer(tmp_path, sampler, dataset=ds)
    assert e.value.param == "index_column"
    with pytest.raises(LessdataError, match="made for n=64 examples but train_dataset has 32"):
        _trainer(tmp_path, sampler, dataset=with_index(ds.select(range(32))))


def test_resuming_from_a_checkpoint_without_the_sampler_state_is_refused(tmp_path):
    sampler = DynamicPruningSampler(64, epochs=2, target_saving=0.2)
    _trainer(tmp_path, sampler, save_strategy="steps", save_steps=3).train()
    checkpoint = tmp_path / "checkpoint-3"
    assert (checkpoint / "lessdata_sampler.pt").is_file()
    (checkpoint / "lessdata_sampler.pt").unlink()  # e.g. saved by a plain Trainer
    again = DynamicPruningSampler(64, epochs=2, target_saving=0.2)
    with pytest.raises(LessdataError, match=r"has no lessdata_sampler\.pt: it was not saved by"):
        _trainer(tmp_path, again).train(resume_from_checkpoint=str(checkpoint))


def test_causal_lm_loss_is_the_models_own_loss_per_document():
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(vocab_size=40, n_positions=16, n_embd=16, n_layer=1,
                                     n_head=2)  # fmt: skip
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config).eval()
    ids = torch.randint(0, 40, (3, 12))
    labels = ids.clone()
    labels[1, 8:] = -100  # a shorter document
    with torch.no_grad():
        outputs = model(input_ids=ids)
        per_doc = causal_lm_loss(outputs, labels)
        own = [model(input_ids=ids[i : i + 1], labels=labels[i : i + 1]).loss for i in range(3)]
    assert torch.allclose(per_doc, torch.stack(own), atol=1e-5)
