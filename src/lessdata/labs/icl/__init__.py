"""The in-context learning lab: does type-2 learning generalise beyond its pretraining tasks?

Type 1 learning is gradient descent over many examples; type 2 is a transformer learning a
task from the k examples in its prompt. The lab follows Garg et al. 2022 (arXiv 2208.01066,
"What can transformers learn in-context?") and Raventós et al. 2023 (arXiv 2306.15063,
"Pretraining task diversity and the emergence of non-Bayesian in-context learning"):

* :mod:`lessdata.labs.icl.tasks`: task families (linear, noisy, sparse, ReLU nets, trees), finite
  task pools, a cap on task directions, and the distribution-shift samplers;
* :mod:`lessdata.labs.icl.baselines`: least squares, ridge, dMMSE, k-NN, averaging, one GD step,
  a small network trained by GD per prompt, and GD steps needed to match an error;
* :mod:`lessdata.labs.icl.model`, :mod:`lessdata.labs.icl.train`,
  :mod:`lessdata.labs.icl.evaluate`: the transformer, its training and its evaluation
  against the baselines.

A prompt batch is ``xs`` (B, n, d) and ``ys`` (B, n), float32; position i is predicted from
examples 0..i-1 and the query ``xs[:, i]``, and "error at k" is the mean squared error at
position k divided by d. Submodules are imported on use, so importing this package is cheap.
"""
