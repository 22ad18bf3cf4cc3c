"""Train the in-context learner on prompts from a task family, with exact resumable checkpoints.

:func:`train_icl` trains an :class:`~lessdata.labs.icl.model.ICLTransformer` on prompts drawn
from a :class:`~lessdata.labs.icl.tasks.TaskSampler` (``source="train"``: the finite task pool
when ``spec.pool_size`` is set, a fresh task per prompt otherwise). The loss is the squared
error at every x position divided by ``d``, so it reads like the evaluation's error/d
(predicting 0 scores about 1 on noiseless Gaussian regression).

Exact resumption. The data of step ``t`` come from a generator seeded by ``(seed, t)``, not
from a stream that runs through the whole training, and the learning-rate schedule is a
function of ``t`` alone (linear warmup, then constant: it does not depend on the total number
of steps; the ``cosine`` schedule also depends on ``steps``, so its runs resume exactly but
cannot be extended). A run killed after a checkpoint and rerun with the same ``out``
therefore sees the same batches and learning rates as an uninterrupted run, and ends with
the same parameters (bit for bit on the same machine and thread count); a finished run
(constant schedule) can be *extended* by rerunning it with more ``steps``. Checkpoints hold
the model, the AdamW and scheduler states, the step, the losses so far, the config and the
task spec; they are replaced atomically.

Curriculum (Garg et al. 2022, who grow d from 5 to 20 by 1 and the prompt from 11 to 41
points by 2 every 2000 steps). With ``curriculum=True`` training starts on tasks with
``d_active = ceil(d / 2)`` live input coordinates (the rest zero-padded) and prompts of
``min(n_points, 2 d_active + 1)`` points; every ``curriculum_every`` steps ``d_active``
grows by one, and the prompt length grows linearly alongside, so both reach the full
``(d, n_points)`` at stage ``d - ceil(d / 2)`` and stay there.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lessdata.checks import check_int
from lessdata.data.atomic import atomic_path
from lessdata.errors import LessdataError
from lessdata.labs.icl.model import ICLTransformer
from lessdata.labs.icl.tasks import TaskSampler, TaskSpec
from lessdata.progress import log, track

__all__ = [
    "CHECKPOINT_NAME",
    "TrainConfig",
    "TrainResult",
    "curriculum_stage",
    "load_model",
    "step_generator",
    "train_icl",
]

#: the checkpoint's file name inside ``out``
CHECKPOINT_NAME = "checkpoint.pt"
#: gradient-norm clip
GRAD_CLIP = 1.0
#: checkpoint layout version
FORMAT = 1
#: config fields a resumed run may change: they do not alter the trajectory of a step
RESUMABLE_FIELDS = ("steps", "checkpoint_every")
#: learning-rate schedules after the warmup
LR_SCHEDULES = ("constant", "cosine")
#: the cosine schedule ends at this fraction of ``lr``
COSINE_FLOOR = 0.1


@dataclass
class TrainConfig:
    """The transformer's shape and its training recipe.

    The defaults (3 layers × 2 heads × 64 wide, 0.15M parameters; batch 64; AdamW at a
    constant 3e-4 after 250 warmup steps) were measured on noisy-linear regression, d = 5,
    11 points, fresh tasks, on a shared 2-core CPU with one torch thread: 22-28 steps/s,
    so 10k steps took 6-7.5 minutes. The loss sits on the trivial plateau (≈ 1.05: predicting
    0) for 1500 (seed 0) to about 4000 (seed 1) steps, then falls; after 10k steps the error/d
    at k = 10 on 2000 fresh prompts was 0.16 (seed 0) and 0.15 (seed 1), ridge's 0.10. The
    learning rate matters: at 1e-3 the loss had not left the plateau after 4000 steps, at
    5e-4 it left it only after about 4500 and stalled near 0.9. Timings on a shared machine
    are indicative only; for this small model one torch thread is much faster than two
    threads competing with other work for two cores.

    Attributes:
        steps: optimizer steps (a rerun with more steps extends a finished run).
        batch_size: prompts per step.
        lr: AdamW learning rate after warmup (betas 0.9, 0.95; gradients clipped to norm 1).
        warmup_steps: the learning rate rises linearly from lr/warmup_steps to lr over these
            steps, then stays constant. A constant schedule depends only on the step, which
            is what makes resuming and extending runs exact.
        lr_schedule: ``constant`` (after warmup) or ``cosine`` (after warmup, a cosine decay
            to lr/10 at ``steps``; it depends on ``steps``, so such a run resumes exactly but
            cannot be extended with more steps).
        weight_decay: AdamW decoupled weight decay on matrices and embeddings only.
        n_layer: transformer blocks.
        n_head: attention heads per block; must divide ``width``.
        width: the embedding (residual stream) width.
        seed: seeds the initial weights and every step's prompts.
        curriculum: grow the live dimension and the prompt length (see the module doc).
        curriculum_every: steps per curriculum stage.
        checkpoint_every: write ``out/checkpoint.pt`` every this many steps (and at the end).
    """

    steps: int = 10_000
    batch_size: int = 64
    lr: float = 3e-4
    warmup_steps: int = 250
    lr_schedule: str = "constant"
    weight_decay: float = 0.0
    n_layer: int = 3
    n_head: int = 2
    width: int = 64
    seed: int = 0
    curriculum: bool = False
    curriculum_every: int = 1000
    checkpoint_every: int = 500

    def check(self) -> TrainConfig:
        """Raise :class:`LessdataError` for an unusable setting; return self."""
        for name in ("steps", "batch_size", "n_layer", "n_head", "width", "curriculum_every"):
            check_int(getattr(self, name), name, low=1)
        check_int(self.checkpoint_every, "checkpoint_every", low=1)
        check_int(self.warmup_steps, "warmup_steps", low=0)
        check_int(self.seed, "seed", low=0)
        if self.width % self.n_head:
            raise LessdataError(
                f"n_head ({self.n_head}) must divide width ({self.width}); "
                "pick e.g. width = 32 × n_head"
            )
        if not _is_number(self.lr) or self.lr <= 0:
            raise LessdataError(f"lr must be a positive number, got {self.lr!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise LessdataError(
                f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}"
            )
        if not _is_number(self.weight_decay) or self.weight_decay < 0:
            raise LessdataError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not isinstance(self.curriculum, bool):
            raise LessdataError(f"curriculum must be true or false, got {self.curriculum!r}")
        return self


@dataclass
class TrainResult:
    """A trained in-context learner and how its training went.

    Attributes:
        model: the trained model (eval mode, on the training device).
        losses: ``(step, loss)`` for every step taken so far, resumed steps included; step
            ``t`` counts from 0 and names the batch seeded by ``(seed, t)``.
        steps_done: optimizer steps the model has taken.
        seconds: training wall time summed over every call that advanced this run.
        resumed_from: the checkpoint's step this call started from (0 for a fresh run;
            ``steps_done`` when the run was already finished).
    """

    model: ICLTransformer
    losses: list[tuple[int, float]] = field(default_factory=list)
    steps_done: int = 0
    seconds: float = 0.0
    resumed_from: int = 0


def _is_number(value: Any) -> bool:
    """True for a finite real number (not a bool)."""
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float, np.integer, np.floating))
        and math.isfinite(value)
    )


# ---------------------------------------------------------------------------------------------
# data and schedule: functions of the step alone


def step_generator(seed: int, step: int, device: str | torch.device = "cpu") -> torch.Generator:
    """The generator of step ``step``'s prompts: seeded by ``(seed, step)`` via SeedSequence.

    Independent of every other step, so a resumed run draws exactly what it would have drawn.
    """
    state = np.random.SeedSequence([int(seed), int(step)]).generate_state(2, dtype=np.uint32)
    value = (int(state[0]) << 31) | (int(state[1]) >> 1)  # 63 bits: a valid torch seed
    return torch.Generator(device=torch.device(device)).manual_seed(value)


def curriculum_stage(step: int, d: int, n_points: int, every: int) -> tuple[int, int]:
    """``(d_active, n_points)`` of the curriculum at ``step`` (see the module doc).

    >>> [curriculum_stage(t, 5, 11, 1000) for t in (0, 999, 1000, 2000, 9000)]
    [(3, 7), (3, 7), (4, 9), (5, 11), (5, 11)]
    """
    d_start = max(1, math.ceil(d / 2))
    n_start = min(n_points, 2 * d_start + 1)
    stages = max(1, d - d_start)
    stage = min(step // every, stages)
    d_active = min(d, d_start + stage)
    n_active = n_start + round((n_points - n_start) * stage / stages)
    return d_active, n_active


def _lr_factor(config: TrainConfig):
    """The LambdaLR multiplier: linear warmup over ``warmup_steps``, then 1 (``constant``)
    or a cosine from 1 down to :data:`COSINE_FLOOR` at ``steps`` (``cosine``)."""
    warmup, total = config.warmup_steps, config.steps

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if config.lr_schedule == "constant" or total <= warmup:
            return 1.0
        progress = min(1.0, (step - warmup) / (total - warmup))
        return COSINE_FLOOR + (1 - COSINE_FLOOR) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def _optimizer(model: ICLTransformer, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW that decays matrices and embeddings, not LayerNorm gains and biases."""
    params = list(model.parameters())
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.95))


def _build(spec: TaskSpec, config: TrainConfig, device: torch.device) -> ICLTransformer:
    """The untrained model for ``spec`` and ``config`` (weights seeded by ``config.seed``)."""
    model = ICLTransformer(
        spec.d,
        spec.n_points,
        n_layer=config.n_layer,
        n_head=config.n_head,
        width=config.width,
        seed=config.seed,
    )
    return model.to(device)


# ---------------------------------------------------------------------------------------------
# checkpoints


def _checkpoint_path(out: str | Path) -> Path:
    return Path(out) / CHECKPOINT_NAME


def _read_checkpoint(path: Path, device: torch.device) -> dict[str, Any]:
    """Load a checkpoint written by :func:`train_icl` (tensors mapped to ``device``)."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # any unreadable file is the same user problem
        raise LessdataError(
            f"{path} is not a readable ICL checkpoint ({exc}); delete it or use another out"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise LessdataError(f"{path} is not an ICL checkpoint of format {FORMAT}; use another out")
    return state


def _differences(saved: dict[str, Any], wanted: dict[str, Any], skip: tuple[str, ...]) -> list[str]:
    """``name: saved -> wanted`` for every field that differs (``skip`` ignored)."""
    names = sorted(set(saved) | set(wanted))
    return [
        f"{name}={saved.get(name)!r} (checkpoint) vs {wanted.get(name)!r} (asked)"
        for name in names
        if name not in skip and saved.get(name) != wanted.get(name)
    ]


def _check_compatible(state: dict[str, Any], spec: TaskSpec, config: TrainConfig, path: Path):
    """Refuse to resume a checkpoint trained with another task spec or recipe."""
    resumable = RESUMABLE_FIELDS if config.lr_schedule == "constant" else ("checkpoint_every",)
    diffs = _differences(state["spec"], asdict(spec), ()) + _differences(
        state["config"], asdict(config), resumable
    )
    if diffs:
        raise LessdataError(
            f"{path} was trained with other settings: {'; '.join(diffs)}. "
            "Use the same settings to resume, or another `out` for a new run"
        )
    if state["step"] > config.steps:
        raise LessdataError(
            f"{path} has already trained {state['step']} steps, more than the {config.steps} "
            f"asked; ask for steps >= {state['step']} or use another `out`"
        )


def _write_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Replace ``path`` atomically with ``state``."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


# ---------------------------------------------------------------------------------------------
# training


def train_icl(
    spec: TaskSpec,
    config: TrainConfig | None = None,
    out: str | Path | None = None,
    *,
    device: str | torch.device = "cpu",
) -> TrainResult:
    """Train an :class:`ICLTransformer` on ``spec``'s training prompts; resume from ``out``.

    Each step draws ``batch_size`` prompts of the task family from the training source (the
    pool of ``spec.pool_size`` tasks, or fresh tasks) with the generator of
    :func:`step_generator` ``(seed, t)`` (a CPU generator, so the data are the same on
    every device), and takes one AdamW step on the mean squared error
    over every x position divided by ``spec.d``. With ``out``, a checkpoint is written every
    ``checkpoint_every`` steps and at the end; calling again with the same ``out`` resumes
    from it (exactly), returns at once when it is finished, and refuses (LessdataError,
    naming the difference) when its task spec or recipe differs from the one asked (only
    ``steps`` and ``checkpoint_every`` may change). ``torch.set_num_threads`` is left alone.

    Args:
        spec: the task family and its settings.
        config: the model and recipe (default :class:`TrainConfig`).
        out: a folder for ``checkpoint.pt``; None trains without checkpoints.
        device: where to train (``"cpu"``, ``"cuda"``, ...).

    Example:
        >>> from lessdata.labs.icl.tasks import TaskSpec
        >>> run = train_icl(TaskSpec(), TrainConfig(steps=20, width=16, n_layer=1))
        >>> run.steps_done, len(run.losses)
        (20, 20)
    """
    config = (config or TrainConfig()).check()
    spec = spec.check()
    device = torch.device(device)
    path = _checkpoint_path(out) if out is not None else None
    model = _build(spec, config, device)
    optimizer = _optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(config))
    losses: list[tuple[int, float]] = []
    start, seconds = 0, 0.0
    if path is not None and path.exists():
        state = _read_checkpoint(path, device)
        _check_compatible(state, spec, config, path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start, seconds = int(state["step"]), float(state["seconds"])
        losses = [(int(t), float(v)) for t, v in state["losses"]]
        if start == config.steps:  # finished: nothing to do
            model.eval()
            return TrainResult(model, losses, start, seconds, resumed_from=start)
        log(f"ICL training: resuming {path} from step {start}")

    def save(step: int) -> None:
        if path is not None:
            _write_checkpoint(
                path,
                {
                    "format": FORMAT,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "step": step,
                    "seconds": seconds,
                    "losses": [[t, v] for t, v in losses],
                    "config": asdict(config),
                    "spec": asdict(spec),
                    "model_shape": model.config(),
                },
            )

    sampler = TaskSampler(spec, device=device)
    model.train()
    since = len(losses)
    steps = range(start, config.steps)
    for step in track(steps, len(steps), f"ICL training ({spec.family}, d={spec.d})"):
        tick = time.perf_counter()
        loss = _train_step(model, optimizer, sampler, spec, config, step)
        scheduler.step()
        losses.append((step, loss))
        seconds += time.perf_counter() - tick
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps:
            recent = np.mean([v for _, v in losses[since:]])
            log(f"ICL step {step + 1}/{config.steps}: loss {recent:.4f} (error/d)")
            since = len(losses)
            save(step + 1)
    model.eval()
    return TrainResult(
        model=model,
        losses=losses,
        steps_done=config.steps,
        seconds=seconds,
        resumed_from=start,
    )


def _train_step(
    model: ICLTransformer,
    optimizer: torch.optim.Optimizer,
    sampler: TaskSampler,
    spec: TaskSpec,
    config: TrainConfig,
    step: int,
) -> float:
    """One optimizer step on the prompts of ``step``; return its loss (mean error/d).

    The prompts are drawn on the CPU (and moved to the model's device by the sampler), so
    a run sees the same data on every device.
    """
    generator = step_generator(config.seed, step)
    options: dict[str, Any] = {}
    if config.curriculum:
        d_active, n_active = curriculum_stage(step, spec.d, spec.n_points, config.curriculum_every)
        options = {"d_active": d_active, "n_points": n_active}
    xs, ys, _ = sampler.sample(config.batch_size, generator, source="train", **options)
    preds = model(xs, ys)
    loss = ((preds - ys) ** 2).mean() / spec.d
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
    optimizer.step()
    return float(loss.detach())


def load_model(
    out: str | Path, *, device: str | torch.device = "cpu"
) -> tuple[ICLTransformer, TaskSpec, TrainConfig]:
    """The model saved in ``out/checkpoint.pt`` (eval mode), its task spec and its recipe."""
    path = _checkpoint_path(out)
    if not path.exists():
        raise LessdataError(f"{path} does not exist: train a model with train_icl(..., out) first")
    device = torch.device(device)
    state = _read_checkpoint(path, device)
    spec = TaskSpec(**state["spec"])
    config = TrainConfig(**{f.name: state["config"][f.name] for f in fields(TrainConfig)})
    model = ICLTransformer(**state["model_shape"]).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    return model, spec, config
