"""Helpers of the tests that the library does not need: features built in memory, and the
protobuf library's own serialization of a feature (the reference of the records encoder)."""

from typing import Iterable, Optional

import numpy as np

from nq_baseline.common.inputs import iter_lines
from nq_baseline.features import windows as F
from nq_baseline.features.prepare import PrepareConfig, example_rng, nq_tokenizer
from nq_baseline.features.windows import Feature
from nq_baseline.reading.nq_data import NqDocument, parse_line


def iter_features(input_pattern: str, cfg: PrepareConfig) -> Iterable[tuple[NqDocument, Optional[F.NqExample], list]]:
    """(document, example, features) triples, in memory, as prepare makes them (no records written)."""
    tok = nq_tokenizer(cfg)
    for ordinal, (path, line, raw) in enumerate(iter_lines(input_pattern)):
        doc = parse_line(raw, path, line, training=cfg.is_training)
        ex = F.build_example(doc, cfg.features)
        rng = example_rng(cfg.random_seed, ordinal)
        yield doc, ex, ([] if ex is None else F.make_features(ex, tok, cfg.features, cfg.is_training, rng))


def serialize_feature(f: Feature, is_training: bool, unique_id: int) -> bytes:
    """One feature through the protobuf library (the reference for serialize_features)."""
    from tensorflow.core.example import example_pb2, feature_pb2

    def _ints(values) -> feature_pb2.Feature:
        return feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=values))

    feats = {
        "unique_ids": _ints([unique_id]),
        "input_ids": _ints(f.input_ids.tolist()),
        "input_mask": _ints(f.input_mask.tolist()),
        "segment_ids": _ints(f.segment_ids.tolist()),
        "example_ids": _ints([f.example_id]),
        "doc_span_index": _ints([f.doc_span_index]),
    }
    if is_training:
        feats["start_positions"] = _ints([f.start_position])
        feats["end_positions"] = _ints([f.end_position])
        feats["answer_types"] = _ints([f.answer_type])
        feats["long_positions"] = _ints([f.long_position])
    else:
        feats["token_map"] = _ints(f.token_map.tolist())
    markers = np.flatnonzero(f.candidate_map >= 0) if f.candidate_map is not None else np.zeros(0, np.int64)
    feats["context_positions"] = _ints(markers.tolist())
    feats["context_candidates"] = _ints(f.candidate_map[markers].tolist() if len(markers) else [])
    return example_pb2.Example(features=feature_pb2.Features(feature=feats)).SerializeToString(deterministic=True)


