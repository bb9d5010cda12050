"""Prediction, streaming: windows -> the model -> raw results -> one prediction per example.

One path for every caller: `run_nq --do_predict` (records of a whole NQ file), the
`Reader` (windows built in memory) and the service go through `ForwardFunction` and
`iter_raw_results`, then `postprocess.predict_example`.

Nothing is held per file: the prediction records are in example order, so the windows of
an example are consecutive; `group_by_example` walks the examples' heads (id and
candidates, read without the document tokens) beside the raw results and hands each
example over as soon as its last window is in; `PredictionsWriter` writes each prediction
at once, into a temporary file renamed when complete.
"""

from __future__ import annotations

import json
from typing import Callable, Iterable, Iterator, Mapping, Optional

import numpy as np

from nq_baseline.common import fileio
from nq_baseline.model.modeling import MODEL_INPUT_KEYS
from nq_baseline.common.errors import NqInputError
from nq_baseline.reading.nq_data import ExampleHead
from nq_baseline.prediction.postprocess import ExamplePrediction, PostprocessConfig, RawResult, predict_example, \
    result_belongs_to
from nq_baseline.features.records import NO_EXAMPLE_ID



class ForwardFunction:
    """The model's inference pass, compiled once for any batch size and sequence length:
    `forward({input_ids, input_mask, segment_ids})` -> numpy start/end/answer-type logits."""

    def __init__(self, model):
        import tensorflow as tf

        spec = {k: tf.TensorSpec([None, None], tf.int32, name=k) for k in MODEL_INPUT_KEYS}

        @tf.function(input_signature=[spec], jit_compile=False)
        def forward(features):
            return model(features, training=False)

        self._forward = forward
        self._tf = tf

    def __call__(self, inputs: Mapping[str, object]) -> dict[str, np.ndarray]:
        tf = self._tf
        feed = {k: tf.cast(inputs[k], tf.int32) for k in MODEL_INPUT_KEYS}
        return {k: v.numpy() for k, v in self._forward(feed).items()}


def raw_results_of_batch(batch: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray]) -> list[RawResult]:
    """One batch of windows (unique_ids, token_map, optional example_ids / doc_span_index)
    and the model's outputs for it -> one RawResult per window, in order."""
    unique_ids = np.asarray(batch["unique_ids"])
    token_map = np.asarray(batch["token_map"])
    example_ids = batch.get("example_ids")
    spans = batch.get("doc_span_index")
    start, end, answer_type = outputs["start_logits"], outputs["end_logits"], outputs["answer_type_logits"]
    long_logits, candidate_map = outputs.get("long_logits"), batch.get("candidate_map")
    out = []
    for i in range(len(unique_ids)):
        eid = None if example_ids is None or int(example_ids[i]) == NO_EXAMPLE_ID else int(example_ids[i])
        span = None if spans is None or int(spans[i]) < 0 else int(spans[i])
        out.append(RawResult(int(unique_ids[i]), start[i], end[i], answer_type[i], token_map[i], eid, span,
                             None if long_logits is None else long_logits[i],
                             None if candidate_map is None else np.asarray(candidate_map[i])))
    return out


def iter_raw_results(forward: Callable, batches: Iterable[Mapping]) -> Iterator[RawResult]:
    """Runs `forward` over batches of windows (e.g. `datasets.make_predict_dataset`), one
    RawResult per window, in input order."""
    for batch in batches:
        batch = {k: (v.numpy() if hasattr(v, "numpy") else v) for k, v in batch.items()}
        yield from raw_results_of_batch(batch, forward(batch))


def group_by_example(heads: Iterable[ExampleHead], results: Iterable[RawResult], source: str = "<predict file>"
                     ) -> Iterator[tuple[ExampleHead, list[RawResult]]]:
    """(head, its windows' results) per example, in file order, streaming.

    Raises NqInputError for an example id seen twice (the windows could not be told apart)
    and when results are left over (records built from another file)."""
    results = iter(results)
    pending = next(results, None)
    seen: set[int] = set()
    for head in heads:
        if head.example_id in seen:
            raise NqInputError(source, None, f"example_id {head.example_id} occurs twice: predictions "
                               "need unique ids")
        seen.add(head.example_id)
        windows: list[RawResult] = []
        while pending is not None and result_belongs_to(pending, head.example_id, len(windows)):
            windows.append(pending)
            pending = next(results, None)
        yield head, windows
    if pending is not None:
        raise NqInputError(source, None, f"a prediction record (unique id {pending.unique_id}) belongs to no "
                           "example of this file: were the records built from another file?")


def stream_predictions(heads: Iterable[ExampleHead], results: Iterable[RawResult],
                       config: PostprocessConfig = PostprocessConfig(), source: str = "<predict file>"
                       ) -> Iterator[ExamplePrediction]:
    for head, windows in group_by_example(heads, results, source):
        yield predict_example(head.example_id, head.candidates, windows, config, head.lexical_scores)


def _indented(obj, prefix: str) -> str:
    return "\n".join(prefix + line for line in json.dumps(obj, indent=2, sort_keys=True).split("\n"))


class PredictionsWriter:
    """Writes the official predictions JSON one prediction at a time (the same bytes as
    `fileio.write_json_atomic(path, {"predictions": [...]})`), and the n-best JSON at the
    end when `nbest_path` is given. Both appear only when `close()` is reached."""

    def __init__(self, path: str, nbest_path: Optional[str] = None):
        self.path, self.nbest_path = path, nbest_path
        self._output = fileio.atomic_output(path, "w", encoding="utf-8")
        self._handle = self._output.__enter__()
        self._handle.write('{\n  "predictions": [')
        self.count = 0
        self._nbest: dict = {}

    def write(self, prediction: ExamplePrediction) -> None:
        self._handle.write(("\n" if self.count == 0 else ",\n") + _indented(prediction.prediction, "    "))
        self.count += 1
        if self.nbest_path:
            self._nbest[str(prediction.example_id)] = prediction.nbest

    def close(self) -> None:
        self._handle.write("\n  ]\n}\n" if self.count else "]\n}\n")
        self._output.__exit__(None, None, None)
        if self.nbest_path:
            fileio.write_json_atomic(self.nbest_path, self._nbest)

    def abort(self, exc: BaseException) -> None:
        self._output.__exit__(type(exc), exc, exc.__traceback__)

    def __enter__(self) -> "PredictionsWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None:
            self.close()
        else:
            self.abort(exc)
        return False


def write_predictions(path: str, predictions: Iterable[ExamplePrediction], nbest_path: Optional[str] = None) -> int:
    """Streams `predictions` into the predictions file (and n-best file); returns the count."""
    with PredictionsWriter(path, nbest_path) as writer:
        for p in predictions:
            writer.write(p)
    return writer.count
