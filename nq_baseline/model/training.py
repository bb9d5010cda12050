"""The optimizer, the strategy and the training loop of bert_joint (the input pipelines are
`model.datasets`).

Training (:func:`train`) is a custom ``tf.function`` step over a
``tf.distribute`` strategy:

* fp32 by default; ``mixed_precision="bf16"`` / ``"fp16"`` switch the model to a Keras
  mixed dtype policy, fp16 adds a ``keras.optimizers.LossScaleOptimizer``;
* ``grad_accum_steps`` micro-batches are summed inside one step (the dataset yields
  micro-batches; ``grad_accum_steps`` of them make one update), then the mean gradient is
  clipped to global norm 1.0 (as BERT does) and applied by AdamW;
* ``tf.train.CheckpointManager`` in ``output_dir`` saves model + optimizer + step +
  dropout RNG + the input iterator every ``save_checkpoints_steps`` and at the end; a
  rerun with the same flags resumes from the last checkpoint at the same step and the
  same position in the data (iterator state is checkpointed; when the iterator cannot be
  checkpointed, consumed batches are skipped instead);
* progress on tqdm, TensorBoard scalars in ``output_dir/train``, and a JSON-lines log
  ``output_dir/train_log.jsonl`` (step, loss, learning_rate, seconds, examples_per_second).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from typing import Callable, List, Optional

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from nq_baseline.common import fileio
from nq_baseline.model import modeling, workers
from nq_baseline.model.datasets import ShardedInput
from nq_baseline.model.errors import NonFiniteLossError, NoTrainingDataError  # noqa: F401 (re-exported)

WEIGHT_DECAY_EXCLUDE = ("LayerNorm", "layer_norm", "bias")
CLIP_NORM = 1.0
TRAIN_LOG = "train_log.jsonl"

# --------------------------------------------------------------------------- optimizer


@keras.saving.register_keras_serializable(package="nq_baseline")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """BERT's schedule from two Keras ``PolynomialDecay``s (power 1):

    ``lr * step / num_warmup_steps`` while ``step < num_warmup_steps``, else
    ``lr * (1 - step / num_train_steps)`` (the decay runs from step 0, as in BERT's
    ``optimization.py``), reaching 0 at ``num_train_steps``.
    """

    def __init__(self, learning_rate: float, num_train_steps: int, num_warmup_steps: int):
        super().__init__()
        self.learning_rate = float(learning_rate)
        self.num_train_steps = int(num_train_steps)
        self.num_warmup_steps = int(num_warmup_steps)
        self._decay = keras.optimizers.schedules.PolynomialDecay(
            self.learning_rate, max(1, self.num_train_steps), end_learning_rate=0.0, power=1.0)
        self._warmup = keras.optimizers.schedules.PolynomialDecay(
            0.0, max(1, self.num_warmup_steps), end_learning_rate=self.learning_rate, power=1.0)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        decayed = self._decay(step)
        if self.num_warmup_steps <= 0:
            return decayed
        return keras.ops.where(step < float(self.num_warmup_steps), self._warmup(step), decayed)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "num_train_steps": self.num_train_steps,
                "num_warmup_steps": self.num_warmup_steps}


def create_optimizer(learning_rate: float, num_train_steps: int, num_warmup_steps: int,
                     weight_decay: float = 0.01, epsilon: float = 1e-6,
                     beta_1: float = 0.9, beta_2: float = 0.999) -> keras.optimizers.AdamW:
    """``keras.optimizers.AdamW`` on :class:`WarmupLinearDecay`, epsilon 1e-6, weight decay
    (decoupled, scaled by the learning rate) skipped for LayerNorm and bias variables.

    Gradient clipping (global norm 1.0) is done by :func:`train` across replicas, not here.
    """
    schedule = WarmupLinearDecay(learning_rate, num_train_steps, num_warmup_steps)
    opt = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay,
                                 beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    opt.exclude_from_weight_decay(var_names=list(WEIGHT_DECAY_EXCLUDE))
    return opt


# --------------------------------------------------------------------------- strategy


def make_strategy(name: Optional[str] = "default", tpu: Optional[str] = None,
                  worker_timeout_seconds: Optional[float] = None) -> tf.distribute.Strategy:
    """``default`` (no distribution), ``mirrored`` (all local GPUs, or the CPU),
    ``multi_worker`` (MultiWorkerMirroredStrategy from ``TF_CONFIG``) or ``tpu``
    (``tpu``: the TPU name/address, default from the environment).

    ``worker_timeout_seconds`` (multi_worker): the longest a worker waits for the others to
    start, and the longest one collective op may wait for its peers (a peer that died is
    noticed sooner, by the coordination service's heartbeats, about 10 s); None: no bound."""
    name = (name or "default").lower().replace("-", "_")
    if name in ("default", "none", "one_device"):
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name in ("multi_worker", "multi_worker_mirrored"):
        return workers.multi_worker_strategy(worker_timeout_seconds)
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"unknown strategy {name!r}: default|mirrored|multi_worker|tpu")


# --------------------------------------------------------------------------- training


def compute_num_train_steps(num_train_features: int, train_batch_size: int,
                            num_train_epochs: float, max_steps: Optional[int] = None) -> int:
    """bert_joint's ``int(features / batch * epochs)`` (at least 1), or ``max_steps``."""
    if max_steps:
        return int(max_steps)
    return max(1, int(num_train_features / train_batch_size * num_train_epochs))


@dataclasses.dataclass
class TrainResult:
    step: int  # global step reached
    resumed_from: Optional[int]  # step of the checkpoint resumed from, None on a fresh start
    loss: Optional[float]  # mean loss of the last logging window of this run
    checkpoint: Optional[str]  # last checkpoint path


def _dropout_states(model) -> List[tf.Variable]:
    """The dropout RNG states (Keras seed generators), for exact resume."""
    return [v.value for v in model.non_trainable_variables if "seed_generator" in v.path]


def is_chief(strategy) -> bool:
    """Whether this process writes the model folder: the chief (or worker 0 of a cluster
    without one), and any process of a single-machine strategy."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None) if resolver else None
    if task_type in (None, "chief"):
        return True
    if task_type == "worker":
        spec = resolver.cluster_spec().as_dict() if resolver else {}
        return "chief" not in spec and resolver.task_id == 0
    return False


def _task_id(strategy) -> str:
    resolver = getattr(strategy, "cluster_resolver", None)
    return f"{getattr(resolver, 'task_type', 'worker')}_{getattr(resolver, 'task_id', 0)}"


def _iterator_checkpointable(strategy, dataset) -> bool:
    """Whether this strategy's iterators over such input can go into a tf.train.Checkpoint."""
    def probe(_):
        return tf.data.Dataset.range(2).batch(1)

    return isinstance(iter(_distributed(strategy, _mapped(dataset, probe))), tf.__internal__.tracking.Trackable)


def _mapped(dataset, transform):
    """`transform` applied to a dataset, or to each dataset a ShardedInput makes."""
    return dataset.map(transform) if isinstance(dataset, ShardedInput) else transform(dataset)


def _distributed(strategy, dataset):
    if isinstance(dataset, ShardedInput):
        return strategy.distribute_datasets_from_function(dataset.make)
    return strategy.experimental_distribute_dataset(dataset)


def _stack_micro_batches(dataset: tf.data.Dataset, accum: int) -> tf.data.Dataset:
    """micro-batches ``[b, ...]`` -> ``[b, accum, ...]`` (batch axis first for tf.distribute)."""

    def swap(features):
        return {k: tf.experimental.numpy.swapaxes(v, 0, 1) for k, v in features.items()}

    return dataset.batch(accum, drop_remainder=True).map(swap)


def make_train_step(model: keras.Model, optimizer, *, strategy: Optional[tf.distribute.Strategy] = None,
                    grad_accum_steps: int = 1, clip_norm: Optional[float] = CLIP_NORM,
                    global_step: Optional[tf.Variable] = None):
    """The compiled training step used by :func:`train` (also used by the benchmark).

    Returns ``step(iterator) -> loss``: takes one element of the (distributed) iterator
    (a micro-batch, or ``[batch, grad_accum_steps, ...]`` stacked micro-batches), runs
    forward + backward per micro-batch, averages the gradients, clips the global norm
    over all replicas, applies ``optimizer`` and increments ``global_step``.  A
    ``LossScaleOptimizer`` turns on loss scaling.
    """
    strategy = strategy or tf.distribute.get_strategy()
    accum = int(grad_accum_steps)
    replicas = strategy.num_replicas_in_sync
    fp16 = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    variables = model.trainable_variables

    def loss_and_grads(features):
        with tf.GradientTape() as tape:
            outputs = model(features, training=True)
            loss = modeling.nq_loss(features, outputs)
            scaled = loss / replicas
            if fp16:
                scaled = optimizer.scale_loss(scaled)
        return loss, tape.gradient(scaled, variables)

    def replica_step(features):
        if accum == 1:
            loss, grads = loss_and_grads(features)
            # Dense gradients: Keras' sparse (IndexedSlices) Adam path mis-handles repeated
            # token ids (squares per occurrence, subtracts the moment once per occurrence).
            grads = [tf.convert_to_tensor(g) for g in grads]
        else:
            grads = [tf.zeros(v.shape, v.dtype) for v in variables]
            loss = tf.constant(0.0)
            for i in tf.range(accum):
                micro = {k: v[:, i] for k, v in features.items()}
                micro_loss, micro_grads = loss_and_grads(micro)
                grads = [g + tf.convert_to_tensor(mg) for g, mg in zip(grads, micro_grads)]
                loss += micro_loss
            grads = [g / accum for g in grads]
            loss /= accum
        if replicas > 1:  # clip the global gradient, not each replica's share
            ctx = tf.distribute.get_replica_context()
            grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        norm = None
        if clip_norm:  # on loss-scaled fp16 gradients clip at the scaled norm
            clip = clip_norm * (tf.cast(optimizer.dynamic_scale, tf.float32) if fp16 else 1.0)
            grads, norm = tf.clip_by_global_norm(grads, clip)
        if replicas > 1:  # Keras sums over replicas again
            grads = [g / replicas for g in grads]
        if not fp16:  # (fp16's loss scaling skips non-finite updates itself, and must see them)
            # A non-finite loss or gradient never reaches the weights or Adam's moments (they
            # get a zero update); the step reports a NaN loss, so train() stops there and every
            # saved checkpoint holds finite weights.
            norm = tf.linalg.global_norm(grads) if norm is None else norm
            finite = tf.math.logical_and(tf.math.is_finite(loss), tf.math.is_finite(norm))
            grads = [tf.where(finite, g, tf.zeros_like(g)) for g in grads]
            loss = tf.where(finite, loss, tf.constant(float("nan"), loss.dtype))
        optimizer.apply_gradients(zip(grads, variables))
        return loss / replicas

    @tf.function(jit_compile=False)
    def train_step(iterator):
        per_replica = strategy.run(replica_step, args=(next(iterator),))
        loss = strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
        if global_step is not None:
            global_step.assign_add(1)
        return loss

    return train_step


def train(model: keras.Model, dataset: tf.data.Dataset, *, output_dir: str, num_train_steps: int,
          learning_rate: float = 5e-5, warmup_proportion: float = 0.1,
          save_checkpoints_steps: int = 1000, grad_accum_steps: int = 1,
          mixed_precision: Optional[str] = None, strategy: Optional[tf.distribute.Strategy] = None,
          log_every: int = 100, init_checkpoint: Optional[str] = None, weight_decay: float = 0.01,
          max_checkpoints_to_keep: int = 5, checkpoint_iterator: bool = True,
          progress: bool = True, step_callback: Optional[Callable[[int, float], None]] = None,
          clip_norm: Optional[float] = CLIP_NORM) -> TrainResult:
    """Train ``model`` for ``num_train_steps`` optimizer updates; resumable.

    ``dataset`` yields micro-batches (dicts from :func:`make_train_dataset`; its batch
    size is the global micro-batch, split over replicas), or is a :class:`ShardedInput`
    (:func:`sharded_train_input`: each worker reads its own share); ``grad_accum_steps`` of them make
    one update, so the effective batch is ``batch * grad_accum_steps``.  Build ``model``
    under ``strategy.scope()``.  ``mixed_precision``: None (float32), "bf16" or "fp16"; the
    model is switched to that compute dtype if it was built with another one.  ``init_checkpoint`` is loaded
    only on a fresh start (no checkpoint in ``output_dir``).  ``step_callback(step, loss)``
    runs after every step (an exception raised there stops training without a save, as a
    kill would).  ``clip_norm``: global-norm clipping of the (all-replica, accumulated)
    gradient, None to disable.  A NaN or infinite loss raises :class:`NonFiniteLossError`
    (that state is not saved); an input that ends before the first step raises
    :class:`NoTrainingDataError`.  Returns a :class:`TrainResult`.
    """
    strategy = strategy or tf.distribute.get_strategy()
    accum = int(grad_accum_steps)
    if accum < 1:
        raise ValueError("grad_accum_steps must be >= 1")
    if num_train_steps < 1:
        raise ValueError("num_train_steps must be >= 1")
    tf.io.gfile.makedirs(output_dir)
    fp16 = _set_precision(model, mixed_precision)
    num_warmup_steps = int(num_train_steps * warmup_proportion)
    optimizer, global_step = _make_optimizer(model, strategy, learning_rate, num_train_steps, num_warmup_steps,
                                             weight_decay, fp16)
    if accum > 1:
        dataset = _mapped(dataset, lambda ds: _stack_micro_batches(ds, accum))
    state = _open_checkpoints(model, optimizer, global_step, dataset, strategy, output_dir,
                              checkpoint_iterator, max_checkpoints_to_keep, init_checkpoint)
    train_step = make_train_step(model, optimizer, strategy=strategy, grad_accum_steps=accum,
                                 clip_norm=clip_norm, global_step=global_step)
    log = TrainLog(output_dir, state.chief, WarmupLinearDecay(learning_rate, num_train_steps, num_warmup_steps),
                   _global_batch_size(dataset, accum), num_train_steps, state.start_step, log_every, progress)
    progress = _Progress(state.start_step, state.last_saved,
                         state.start_step if state.resumed_from is not None else None)
    try:
        with workers.lost_workers_named(strategy, progress.stopped):
            _run_steps(train_step, state, log, progress, num_train_steps, save_checkpoints_steps, step_callback)
            if progress.step == state.start_step and state.resumed_from is None:
                raise NoTrainingDataError(f"the training input ended before the first step: no records to train "
                                          f"on (nothing was saved in {output_dir})")
            if progress.saved_step != progress.step:
                progress.last_saved = state.save(progress.step)
    finally:
        log.close()
        state.close()
    return TrainResult(step=progress.step, resumed_from=state.resumed_from, loss=log.last_loss,
                       checkpoint=progress.last_saved)


@dataclasses.dataclass
class _Progress:
    step: int  # steps done
    last_saved: Optional[str]  # the newest checkpoint
    saved_step: Optional[int]  # its step

    def stopped(self) -> str:
        kept = f"the last checkpoint is {self.last_saved}" if self.last_saved else "no checkpoint was saved"
        return (f"; training stopped at step {self.step} ({kept}): start every worker again, with the same "
                "flags, to resume from the last checkpoint")


def _run_steps(train_step, state, log, progress: _Progress, num_train_steps: int, save_checkpoints_steps: int,
               step_callback) -> None:
    while progress.step < num_train_steps:
        loss = _next_loss(train_step, state.iterator)
        if loss is None:
            logging.warning("Input exhausted at step %d of %d (a dataset without repeat?)", progress.step,
                            num_train_steps)
            log.flush(progress.step)
            return
        if not math.isfinite(loss):
            raise NonFiniteLossError(progress.step + 1, loss, progress.last_saved)
        progress.step += 1
        log.add(progress.step, loss)
        if progress.step % save_checkpoints_steps == 0 or progress.step == num_train_steps:
            progress.last_saved = state.save(progress.step)
            progress.saved_step = progress.step
        if step_callback is not None:
            step_callback(progress.step, loss)


def _next_loss(train_step, iterator) -> Optional[float]:
    """One training step's loss, None when the (finite) input is exhausted."""
    try:
        return float(train_step(iterator))
    except (tf.errors.OutOfRangeError, StopIteration):
        return None


def _set_precision(model: keras.Model, mixed_precision: Optional[str]) -> bool:
    """Switches the model to the asked compute dtype if needed; True for fp16 (loss scaling)."""
    policy = modeling.dtype_policy(mixed_precision)
    if (policy.compute_dtype if policy else "float32") != model.compute_dtype:
        modeling.set_mixed_precision(model, mixed_precision)
    return model.compute_dtype == "float16"


def _make_optimizer(model, strategy, learning_rate, num_train_steps, num_warmup_steps, weight_decay, fp16):
    with strategy.scope():
        optimizer = create_optimizer(learning_rate, num_train_steps, num_warmup_steps, weight_decay)
        if fp16:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(model.trainable_variables)
        global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step",
                                  aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    return optimizer, global_step


@dataclasses.dataclass
class _CheckpointState:
    iterator: object
    manager: tf.train.CheckpointManager
    chief: bool
    start_step: int
    resumed_from: Optional[int]
    last_saved: Optional[str]
    output_dir: str
    scratch: Optional[str] = None  # a non-chief worker's own checkpoint folder, removed at the end

    def save(self, step: int) -> str:
        """Saves a checkpoint of `step`; returns the path of the one kept (the chief's)."""
        path = self.manager.save(checkpoint_number=step)
        return os.path.join(self.output_dir, os.path.basename(path)) if self.scratch else path

    def close(self) -> None:
        if self.scratch:
            fileio.remove_path(self.scratch)
            fileio.release_temporary(self.scratch)
            with contextlib.suppress(OSError):  # a folder of its own that the chief never wrote to
                os.rmdir(self.output_dir)


def _open_checkpoints(model, optimizer, global_step, dataset, strategy, output_dir, checkpoint_iterator,
                      max_to_keep, init_checkpoint) -> _CheckpointState:
    """The input iterator and the checkpoint manager; resumes from the latest checkpoint in
    `output_dir` (else loads `init_checkpoint`).

    Where the input continues from: the checkpointed iterator state when there is one, else
    skip the batches consumed so far. Decided BEFORE the one iterator is made: a second
    iterator over a seeded, reshuffling dataset would see another order."""
    from nq_baseline.model import checkpoints  # local: keeps `training` importable alone

    latest = checkpoints.latest_checkpoint(output_dir)
    saved = checkpoints.saved_values(latest, output_dir) if latest else {}
    save_iterator = checkpoint_iterator and _iterator_checkpointable(strategy, dataset)
    if latest and not (save_iterator and "iterator" in {n.split("/")[0] for n in saved}):
        consumed = int(saved["step/.ATTRIBUTES/VARIABLE_VALUE"]())
        logging.info("No input iterator state in %s: skipping %d consumed batches", latest, consumed)
        dataset = _mapped(dataset, lambda ds: ds.skip(consumed))
    iterator = iter(_distributed(strategy, dataset))
    items = dict(model=model, optimizer=optimizer, step=global_step, dropout_rng=_dropout_states(model))
    if save_iterator:
        items["iterator"] = iterator
    ckpt = tf.train.Checkpoint(**items)
    chief = is_chief(strategy)
    # Multi-worker: every worker must save (collective ops), only the chief's copy is kept; the
    # others save into a folder of their own that they remove again (on a signal too).
    scratch = None if chief else os.path.join(output_dir, f".worker_tmp_{_task_id(strategy)}")
    if scratch:
        fileio.remove_path(scratch)  # left by a killed run of this worker
        fileio.register_temporary(scratch)
    manager = tf.train.CheckpointManager(ckpt, scratch or output_dir, max_to_keep=max_to_keep if chief else 1,
                                         step_counter=global_step)
    resumed_from = None
    if latest:
        checkpoints.restore_checkpoint(ckpt, latest, output_dir)
        resumed_from = int(global_step.numpy())
        logging.info("Resumed from %s at step %d", latest, resumed_from)
    elif init_checkpoint:
        checkpoints.load_init_checkpoint(model, init_checkpoint)
    cfg_path = os.path.join(output_dir, "bert_config.json")
    if chief and hasattr(model, "config") and not tf.io.gfile.exists(cfg_path):
        with tf.io.gfile.GFile(cfg_path, "w") as f:
            f.write(model.config.to_json_string())
    start = int(global_step.numpy())
    state = _CheckpointState(iterator, manager, chief, start, resumed_from,
                             latest if resumed_from is not None else None, output_dir, scratch)
    if workers.in_multi_worker_mode(strategy):
        try:
            workers.check_same_start(strategy, start, output_dir)
        except BaseException:
            state.close()
            raise
    return state


class TrainLog:
    """Where training reports: `train_log.jsonl` and TensorBoard scalars (the chief only),
    absl logging, and a progress bar on a terminal (on a pipe or a file, a plain log line
    every window instead of carriage-return frames)."""

    def __init__(self, output_dir: str, chief: bool, schedule, batch_examples: Optional[int], total_steps: int,
                 start_step: int, every: int, progress: bool):
        self.path = os.path.join(output_dir, TRAIN_LOG)
        self.chief, self.schedule, self.batch_examples = chief, schedule, batch_examples
        self.total, self.every = total_steps, max(1, every)
        self.writer = (tf.summary.create_file_writer(os.path.join(output_dir, "train")) if chief
                       else tf.summary.create_noop_writer())
        self.bar = None
        if progress and sys.stderr.isatty():
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total_steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True)
        self.t_start = self.t_window = time.time()
        self.losses: List[float] = []
        self.last_loss: Optional[float] = None
        self.progress = progress

    def add(self, step: int, loss: float) -> None:
        self.losses.append(loss)
        if self.bar is not None:
            self.bar.update(1)
        if step % self.every == 0 or step == self.total:
            self.flush(step)

    def flush(self, step: int) -> None:
        if not self.losses:
            return
        now = time.time()
        self.last_loss = float(np.mean(self.losses))
        lr = float(self.schedule(step - 1))  # the rate the last update used
        eps = self.batch_examples * len(self.losses) / (now - self.t_window) if self.batch_examples else None
        record = {"step": step, "loss": self.last_loss, "learning_rate": lr,
                  "seconds": round(now - self.t_start, 3), "examples_per_second": eps}
        if self.chief:
            with tf.io.gfile.GFile(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")
        with self.writer.as_default(step=step):
            _scalar_summary("loss", self.last_loss)
            _scalar_summary("learning_rate", lr)
            if eps:
                _scalar_summary("examples_per_second", eps)
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{self.last_loss:.4f}", lr=f"{lr:.2e}")
        elif self.progress:
            print(f"train: step {step}/{self.total} loss {self.last_loss:.4f} lr {lr:.2e}"
                  + (f" {eps:.1f} examples/s" if eps else ""), file=sys.stderr, flush=True)
        logging.info("step %d loss %.5f lr %.3e", step, self.last_loss, lr)
        self.t_window, self.losses = now, []

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.writer.flush()


def _scalar_summary(tag: str, value: float) -> None:
    """A TensorBoard scalar without importing tensorboard (``tf.summary.scalar`` needs it):
    the same event ``tensorboard.summary.scalar`` writes (plugin "scalars")."""
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    tf.summary.write(tag, tf.constant(value, tf.float32), metadata=metadata.SerializeToString())


def _global_batch_size(dataset, accum: int) -> Optional[int]:
    if isinstance(dataset, ShardedInput):
        return dataset.global_batch_size * accum
    shape = dataset.element_spec["input_ids"].shape
    if shape[0] is None:
        return None
    return int(shape[0]) * (int(shape[1]) if accum > 1 else 1)
