"""Shared fixtures."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest
import torch

from lessdata.cli import main


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """One cache folder per test session: embeddings, spilled vectors and checkpoints stay
    out of the user's ~/.cache, and are still shared between the session's tests."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LESSDATA_CACHE", str(tmp_path_factory.mktemp("lessdata-cache")))
        # the static encoder is distilled once per session, whatever cache a test names
        patch.setenv("LESSDATA_MODELS", str(tmp_path_factory.mktemp("lessdata-models")))
        yield


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small tensors run fastest on one thread, and do not fight other work for the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> Callable[..., tuple[int, str, str]]:
    """Run ``lessdata ARGS`` in-process: ``cli("prune", "x.npy", ...)`` returns the exit code,
    stdout and stderr."""

    def run(*args: object) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["lessdata", *map(str, args)])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
