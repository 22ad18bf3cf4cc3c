"""The names of the proxy model families, without importing torch (the metrics registry
validates ``proxy_model`` against them at import time)."""

#: the proxy model families, smallest first (see :mod:`lessdata.train.models`)
MODELS = ("logreg", "mlp", "cnn1d", "cnn2d")
