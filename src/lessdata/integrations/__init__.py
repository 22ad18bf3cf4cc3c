"""Dynamic pruning in training frameworks (the ``integrations`` extra).

* :mod:`lessdata.integrations.hf`: :class:`~lessdata.integrations.hf.PruningTrainer`, a
  Hugging Face ``Trainer`` that installs a :class:`~lessdata.torch.DynamicPruningSampler`,
  re-weights the per-example loss, sizes ``max_steps`` and the scheduler from the sampler's
  plan (or drives it by progress) and resumes from its own checkpoints.
* :mod:`lessdata.integrations.lightning`:
  :class:`~lessdata.integrations.lightning.DynamicPruningCallback`, a Lightning callback, and
  :func:`~lessdata.integrations.lightning.pruned_loss` for the ``training_step``.

Each module imports its framework when imported; this package imports nothing.
"""
