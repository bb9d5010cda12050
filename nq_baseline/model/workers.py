"""Training on several workers (MultiWorkerMirroredStrategy from TF_CONFIG): the strategy with its
waits for peers bounded, a lost peer named in one line, and the check that every worker starts
from the chief's step.

A peer that dies is noticed by the coordination service's heartbeats (about 10 s; the process of
a worker that exits, for any reason, stops sending them); a peer that is alive but never joins a
step, by the collective ops' timeout; a peer that never starts, by the registration timeout.
TensorFlow then raises one of `PEER_ERRORS` with a page of gRPC detail, which
`lost_workers_named` turns into a `WorkerLostError` naming the peer and its address.
"""

from __future__ import annotations

import contextlib
import re
from typing import Callable, Optional

import tensorflow as tf

from nq_baseline.model.errors import WorkerLostError, WorkersDisagreeError

# What a collective op or the coordination service raises when a peer died or cannot be reached.
PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError,
               tf.errors.CancelledError)


def multi_worker_strategy(timeout_seconds: Optional[float]) -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy from TF_CONFIG whose waits for peers are bounded: collective
    ops by `CommunicationOptions(timeout_seconds)`, the start by the coordination service's
    registration timeout (configured here as the strategy itself would, plus that bound; the
    strategy keeps a coordination service configured before it)."""
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if timeout_seconds:
        _configure_coordination_service(resolver.cluster_spec(), timeout_seconds)
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout_seconds)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver, communication_options=options)
    except PEER_ERRORS as err:
        raise WorkerLostError(_lost_peers(err, resolver, starting=True)) from None


def _configure_coordination_service(cluster_spec: tf.train.ClusterSpec, timeout_seconds: float) -> None:
    """The coordination service the strategy would configure (standalone, its leader the chief or
    worker 0), with registration bounded: every worker, the leader too, waits at most
    `timeout_seconds` for all of them to start. (TensorFlow has no public call for this.)"""
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context

    if context.context().coordination_service is not None:
        return
    jobs = [coordination_config_pb2.CoordinatedJob(name=job, num_tasks=cluster_spec.num_tasks(job))
            for job in ("chief", "worker") if job in cluster_spec.jobs]
    context.context().configure_coordination_service(
        service_type="standalone", service_leader=multi_worker_util.coordination_leader(cluster_spec),
        coordinated_jobs=jobs, cluster_register_timeout_in_ms=int(timeout_seconds * 1000))
    config = context.context().coordination_service
    if "cluster_register_with_barrier" in config.DESCRIPTOR.fields_by_name:
        config.cluster_register_with_barrier = True  # the leader waits (bounded) for the others too


def in_multi_worker_mode(strategy) -> bool:
    """Whether `strategy` runs in several processes (MultiWorkerMirroredStrategy of 2+ workers)."""
    return strategy.extended._in_multi_worker_mode()  # pylint: disable=protected-access (what Keras asks)


@contextlib.contextmanager
def lost_workers_named(strategy, stopped: Callable[[], str] = lambda: ""):
    """Multi-worker: TensorFlow's error when a peer is lost (a page of gRPC detail) becomes a
    WorkerLostError naming that peer; `stopped()` says where training stood."""
    if not in_multi_worker_mode(strategy):
        yield
        return
    try:
        yield
    except PEER_ERRORS as err:
        raise WorkerLostError(f"{_lost_peers(err, strategy.cluster_resolver)}{stopped()}") from None


def _lost_peers(err: tf.errors.OpError, resolver, starting: bool = False) -> str:
    """Which peers TensorFlow's error names, with their addresses: the tasks whose heartbeats
    stopped, whose connection failed, or that did not register in time; a coordination service
    that does not answer is the chief's (worker 0's without one: the service's leader)."""
    spec = resolver.cluster_spec()
    text = err.message or str(err)
    own = (resolver.task_type, resolver.task_id)
    named = [(job, int(task)) for job, task in re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", text)]
    peers = list(dict.fromkeys(t for t in named if t != own and t[0] in spec.jobs))
    if not peers and "CoordinationService" in text:
        leader = ("chief" if "chief" in spec.jobs else "worker", 0)
        peers = [leader] if leader != own else []
    names = ", ".join(f"{job} {task} ({spec.task_address(job, task)})" for job, task in peers)
    if starting:
        return (f"{names or 'a worker'} of TF_CONFIG did not start within --worker_timeout_seconds (or cannot be "
                "reached): start every worker, with the same TF_CONFIG cluster")
    if peers:
        return f"lost {names} of TF_CONFIG: it died or cannot be reached"
    if "timed out" in text.lower():
        return (f"a peer kept a step waiting past --worker_timeout_seconds: one of {_addresses(spec)} is stuck "
                "or cannot be reached")
    return f"a peer of this multi-worker run is lost ({' '.join(text.split())[:300]})"


def _addresses(spec: tf.train.ClusterSpec) -> str:
    return ", ".join(f"{job} {i} ({address})" for job in spec.jobs for i, address in enumerate(spec.job_tasks(job)))


def check_same_start(strategy, start: int, output_dir: str) -> None:
    """Every worker starts at the chief's step: one that found no checkpoint (or another one)
    in `output_dir`, where the chief resumes, would train another model in lockstep."""

    @tf.function
    def every_replicas_step():  # a sum of one-hot rows: each replica's step at its own index
        ctx = tf.distribute.get_replica_context()
        row = tf.one_hot(ctx.replica_id_in_sync_group, ctx.num_replicas_in_sync, dtype=tf.float64)
        return ctx.all_reduce(tf.distribute.ReduceOp.SUM, row * float(start))

    steps = strategy.experimental_local_results(strategy.run(every_replicas_step))[0].numpy()
    if len(set(steps.tolist())) > 1:
        raise WorkersDisagreeError(f"the workers start from different steps ({', '.join(str(int(s)) for s in steps)}, "
                                   f"one a replica): every worker must see the chief's checkpoints in --output_dir "
                                   f"{output_dir} (a folder they all share)")
