"""Micro-batching: one thread owns the model and runs the windows of the requests that arrive
close together in ONE forward pass.

A request parses and encodes its document in a worker thread of its own, hands its windows to
the batcher and waits without holding a thread; the batcher takes the first pending request,
waits up to `batch_timeout_ms` for more, concatenates the windows of all that arrived (up to
`max_batch_windows`), runs one forward pass and hands each request its rows. Decoding
(post-processing) then runs in the request's own worker thread again, so a request never
waits on another's post-processing, and the model never waits on any.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import queue
import threading
import time
from typing import Callable, Mapping, Optional

import numpy as np

from nq_baseline.model.modeling import MODEL_INPUT_KEYS

LOG = logging.getLogger("nq_baseline.serving")


@dataclasses.dataclass
class _Job:
    inputs: dict  # the model's inputs, [n, seq] arrays
    size: int
    future: concurrent.futures.Future


class MicroBatcher:
    """Runs `run(inputs) -> outputs` (rows in, rows out) in one thread, over the windows of
    every request that arrived within `batch_timeout_ms` of the first, up to
    `max_batch_windows` windows (a request larger than that goes alone). With
    `enabled=False` each request gets a forward pass of its own (to measure the gain)."""

    def __init__(self, run: Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]],
                 max_batch_windows: int = 64, batch_timeout_ms: float = 5.0, enabled: bool = True):
        if max_batch_windows < 1 or batch_timeout_ms < 0:
            raise ValueError("max_batch_windows must be >= 1 and batch_timeout_ms >= 0")
        self._run, self.max_batch_windows = run, int(max_batch_windows)
        self.timeout_s, self.enabled = batch_timeout_ms / 1000.0, bool(enabled)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stats_lock = threading.Lock()
        self._stats = {"forward_passes": 0, "windows": 0, "requests": 0, "largest_batch": 0}
        self._thread = threading.Thread(target=self._loop, name="nq-model", daemon=True)
        self._thread.start()

    def submit(self, inputs: Mapping[str, np.ndarray]) -> concurrent.futures.Future:
        """Queues [n, seq] windows (n >= 1); the future's result is the outputs' n rows."""
        if not self._thread.is_alive():
            raise RuntimeError("the model thread has stopped")
        arrays = {k: np.asarray(inputs[k]) for k in MODEL_INPUT_KEYS}
        job = _Job(arrays, len(arrays["input_ids"]), concurrent.futures.Future())
        self._queue.put(job)
        return job.future

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stats(self) -> dict:
        with self._stats_lock:
            return dict(self._stats, queued=self._queue.qsize())

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _loop(self) -> None:
        carry: Optional[_Job] = None
        while True:
            first = carry if carry is not None else self._queue.get()
            if first is None:
                break
            batch, carry, stop = self._gather(first)
            self._run_batch(batch)
            if stop:
                break
        self._fail_pending()

    def _gather(self, first: _Job) -> tuple[list[_Job], Optional[_Job], bool]:
        """The jobs to run with `first`; the next one that did not fit; whether to stop."""
        batch, total = [first], first.size
        if not self.enabled:
            return batch, None, False
        deadline = time.monotonic() + self.timeout_s
        while total < self.max_batch_windows:
            try:
                job = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if job is None:
                return batch, None, True
            if total + job.size > self.max_batch_windows:
                return batch, job, False
            batch.append(job)
            total += job.size
        return batch, None, False

    def _run_batch(self, batch: list[_Job]) -> None:
        inputs = batch[0].inputs if len(batch) == 1 else {
            k: np.concatenate([job.inputs[k] for job in batch]) for k in MODEL_INPUT_KEYS}
        try:
            outputs = self._run(inputs)
        except Exception as err:  # the requests of this batch fail; the thread goes on
            LOG.exception("forward pass failed")
            for job in batch:
                job.future.set_exception(err)
            return
        lo = 0
        for job in batch:
            job.future.set_result({k: v[lo:lo + job.size] for k, v in outputs.items()})
            lo += job.size
        with self._stats_lock:
            s = self._stats
            s["forward_passes"] += 1
            s["windows"] += lo
            s["requests"] += len(batch)
            s["largest_batch"] = max(s["largest_batch"], lo)

    def _fail_pending(self) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                job.future.set_exception(RuntimeError("the server is shutting down"))


BATCH_BUCKET = 8


def run_in_buckets(run: Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]],
                   inputs: Mapping[str, np.ndarray], bucket: int = BATCH_BUCKET) -> dict[str, np.ndarray]:
    """`run` over `inputs` padded to a multiple of `bucket` rows (copies of the first row),
    its outputs cut back. Micro-batches come in every size; the runtime keeps memory for
    each batch shape it has seen (see docs/performance.md), so a few sizes keep the server's
    memory bounded, for ~bucket/2 wasted rows a pass."""
    n = len(inputs["input_ids"])
    extra = -n % bucket
    if not extra:
        return dict(run(inputs))
    padded = {k: np.concatenate([v, np.repeat(v[:1], extra, axis=0)]) for k, v in inputs.items()}
    return {k: v[:n] for k, v in run(padded).items()}
