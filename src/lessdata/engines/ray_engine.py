"""The Ray engine: shards become Ray tasks on a local or existing cluster.

Ray is an optional extra (``pip install 'lessdata[ray]'``). Every node of an existing
cluster needs lessdata installed, and files that steps read by path (memory-mapped
embeddings, Parquet shards) must be visible to every node at the same path (a shared
file system); on one machine both hold trivially.

Fault tolerance comes from Ray and the checkpoint: a task whose worker process dies is
retried up to ``max_retries`` times (Ray's system-failure retries); exceptions raised by a
step are not retried (they are errors in the input, and would fail again). Finished
shards are checkpointed by the driver, so a killed driver resumes from them.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from lessdata.checks import check_int
from lessdata.engines.base import Engine, MappedArray, call_step
from lessdata.errors import LessdataError
from lessdata.extras import require

#: arrays larger than this go to Ray's object store once, instead of with every task
_PUT_ABOVE_BYTES = 1 << 20


def _ray() -> Any:
    return require("ray", "the ray engine (or use the local engine)")


def _split_address(address: str) -> tuple[str, int]:
    """``(host, port)`` of ``host:port`` or ``ray://host:port``; a clear error otherwise."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise LessdataError(
            f"address {address!r} is not a Ray address; give auto, host:6379 or ray://host:10001",
            param="address",
        )
    return host, int(port)


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """Fail fast when ``host:port`` (or ``ray://host:port``) does not answer.

    ``ray.init`` waits minutes for a cluster that is not there; a TCP connect says it in
    seconds. ``auto`` (the cluster this machine started) is left to Ray.
    """
    if address == "auto":
        return
    host, port = _split_address(address)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise LessdataError(
            f"no Ray cluster answers at {address} ({exc}); start one (ray start --head) or "
            "check the address"
        ) from None


class RayEngine(Engine):
    """Runs shards as Ray tasks, at most ``2 × workers`` in flight.

    Args:
        address: an existing cluster to join (``auto``, ``host:6379``, ``ray://host:10001``);
            None starts a local cluster. A process already connected to a Ray cluster keeps
            that connection (``address`` and ``workers`` are then not used).
        workers: CPUs of the local cluster (default: all); ignored with ``address``.
        max_retries: retries of a shard whose worker died.

    Making the engine only checks these; the cluster is started or joined when the first
    shard runs, so an engine can be made (and passed to ``lessdata.prune(..., engine=)``)
    before the options of a run are validated.

    Example:
        >>> engine = RayEngine(address="auto")  # doctest: +SKIP
        >>> lessdata.prune("train.parquet", 0.5, engine=engine, out="pruned/")  # doctest: +SKIP
    """

    name = "ray"

    def __init__(
        self, address: str | None = None, workers: int | None = None, max_retries: int = 3
    ) -> None:
        _ray()  # a missing Ray is an error now, not at the first shard
        self.address = address
        self._workers = check_int(workers, "workers", low=1, allow_none=True)
        if address is not None and address != "auto":
            _split_address(address)  # a malformed address fails here, before any work
        self.max_retries = max_retries
        self._started = False
        self._task: Any = None

    def _connect(self) -> Any:
        """Start or join the cluster on first use (constructing the engine is cheap)."""
        ray = _ray()
        if self._task is not None:
            return ray
        if not ray.is_initialized():
            options: dict[str, Any] = dict(
                logging_level=logging.WARNING, log_to_driver=False, include_dashboard=False
            )
            address = self.address
            if address:
                _check_reachable(address)
            try:
                if address:
                    ray.init(address=address, **options)
                else:
                    ray.init(num_cpus=self._workers, **options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
                raise LessdataError(f"could not start or join {where}: {exc}") from exc
            self._started = True
        self._task = ray.remote(num_cpus=1, max_retries=self.max_retries, retry_exceptions=False)(
            call_step
        )
        return ray

    @property
    def workers(self) -> int:  # type: ignore[override]
        """CPUs of the cluster (it is started or joined to count them)."""
        ray = self._connect()
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def share(self, value: Any) -> Any:
        """Memory maps travel by path; other large arrays go to the object store once."""
        if isinstance(value, np.ndarray):
            mapped = MappedArray.of(value)
            if mapped is not None:
                return mapped
            if value.nbytes > _PUT_ABOVE_BYTES:
                return self._connect().put(value)
        return value

    def _run(
        self, step: Callable[..., Any], items: Sequence[Any], todo: list[int], shared: list[Any]
    ) -> Iterator[tuple[int, Any]]:
        ray = self._connect()
        window = 2 * self.workers
        pending: dict[Any, int] = {}
        queue = iter(todo)
        try:
            while True:
                for index in queue:
                    pending[self._task.remote(step, items[index], *shared)] = index
                    if len(pending) >= window:
                        break
                if not pending:
                    return
                ready, _ = ray.wait(list(pending), num_returns=1)
                index = pending.pop(ready[0])
                yield index, self._get(ready[0], index)
        finally:
            for ref in pending:  # an error or an abandoned generator: stop the rest
                ray.cancel(ref, force=True)

    def _get(self, ref: Any, index: int) -> Any:
        ray = _ray()
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, LessdataError):
                raise exc.cause from None
            raise
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as exc:
            raise LessdataError(
                f"shard {index} failed: its worker died {self.max_retries + 1} times ({exc}); "
                "finished shards are checkpointed, so rerunning the command resumes"
            ) from exc

    def close(self) -> None:
        """Shut down the local cluster if this engine started it."""
        if self._started:
            _ray().shutdown()
            self._started = False
        self._task = None
