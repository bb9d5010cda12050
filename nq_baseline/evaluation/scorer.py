r"""Natural Questions metrics: an independent re-implementation of the official scorer.

The numbers are those of Google's `natural_questions/nq_eval.py` (version 1.0.6):
long- and short-answer F1 at the best score threshold, and recall at precision
>= 0.5 / 0.75 / 0.9, under the same JSON keys.  As in the official package, reading the
gold is apart from scoring it: `nq_baseline.evaluation.gold` reads gold files (original or
simplified format, gzipped or plain, globs and comma lists, only the annotations
decoded) and keeps their cache; this module reads the predictions and scores (every name of
`gold` is importable from here too). The program is `nq_baseline.nq_eval`.

* examples without a prediction count as null predictions; bad predictions or bad
  gold raise `NqEvalError` (a `ValueError`) naming the file, the line or the
  example; the command line prints that one line and exits with status 2, as it
  does for a bad flag value, and writes nothing then;
* `--output_path` writes the metrics JSON, `--plot_path` draws the PR curves (both
  atomically, together);
* `--cache_gold_data` keeps the decoded gold in a small JSON cache keyed on the
  content of the gold files (see `nq_gold`).

Command line::

    python -m nq_baseline.nq_eval --gold_path='nq-dev-0?.jsonl.gz' \
        --predictions_path=predictions.json [--pretty_print] [--cache_gold_data]

Library::

    from nq_baseline.evaluation.scorer import evaluate
    metrics = evaluate("nq-dev-*.jsonl.gz", "predictions.json")

Scoring rules (the official ones)
---------------------------------
A span is four integers (start_byte, end_byte, start_token, end_token); it is null
when all four are negative.  Two non-null spans are equal when both carry byte
offsets and those agree, or when both carry token offsets and those agree.

Gold has a long answer when at least `long_non_null_threshold` annotators gave a
non-null long answer; it has a short answer when at least
`short_non_null_threshold` annotators gave a non-null short span or a yes/no
answer.  A long prediction is correct when gold has a long answer and the
predicted span equals one annotator's non-null long answer.  A short prediction is
correct when gold has a short answer and either its yes/no value (when not NONE)
equals one annotator's yes/no value, or its set of non-null spans equals one
annotator's set (every span on each side equals some span on the other side).

Thresholds: the scored predictions are sorted by decreasing score; after each group
of equal scores, precision = correct / predicted-so-far and recall = correct /
gold-with-answer.  The best threshold is the first group reaching the highest F1
(strictly greater than every earlier one); recall at precision >= t is the highest
recall (first reached) among groups whose precision is at least t.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, NamedTuple, Optional

import orjson

from nq_baseline.evaluation.gold import (  # noqa: F401  (re-exported: the scorer is the public entry point)
    CACHE_FORMAT, DEFAULT_THREADS, NULL_SPAN, GoldAnnotation, GoldData, GoldDataError, NqEvalError, PathLike,
    Span, example_id_from_json, gold_from_json, load_gold, score_from_json, span_from_json)

__all__ = [
    "AnswerStat", "EvalReport", "GoldAnnotation", "GoldData", "GoldDataError", "NULL_SPAN", "NqEvalError",
    "PRPoint", "Prediction", "PredictionError", "Span", "TARGET_PRECISIONS", "evaluate",
    "evaluate_report", "format_tables", "gold_from_json", "gold_has_answers", "load_gold", "load_predictions",
    "metrics_from_stats", "pr_curve", "render_pr_plot", "score_answers", "score_example",
    "span_sets_equal", "spans_equal", "unthresholded_scores",
]

TARGET_PRECISIONS = (0.5, 0.75, 0.9)
_DEFAULT_THREADS = DEFAULT_THREADS


class PredictionError(NqEvalError):
    """A prediction is malformed or names an example that is not in the gold data."""

    def __init__(self, path: str, line: Optional[int], message: str, example_id: Any = None):
        super().__init__(path, line, message)
        self.example_id = example_id


# --------------------------------------------------------------------------- data types

class Prediction(NamedTuple):
    """One system answer; `short_answers` keeps only the non-null spans."""

    example_id: int
    long_answer: Span
    long_answer_score: Any  # int or float, as given
    short_answers: tuple[Span, ...]
    short_answers_score: Any
    yes_no_answer: str  # lower case

    # an answer has a long or a short part by the same rule as an annotator's answer
    has_long = GoldAnnotation.has_long
    has_short = GoldAnnotation.has_short


class AnswerStat(NamedTuple):
    """Per example: does gold have an answer, does the system, is it right, and its score."""

    has_gold: bool
    has_pred: bool
    is_correct: bool
    score: Any  # None when there is no prediction at all


class PRPoint(NamedTuple):
    threshold: Any
    precision: float
    recall: float


class EvalReport(NamedTuple):
    metrics: dict
    long_stats: list[AnswerStat]
    short_stats: list[AnswerStat]


# --------------------------------------------------------------------------- span logic

def spans_equal(a: Span, b: Span) -> bool:
    """Equality of two non-null spans: by bytes where both have bytes, else (or also) by tokens."""
    if a[0] >= 0 and a[1] >= 0 and b[0] >= 0 and b[1] >= 0 and a[0] == b[0] and a[1] == b[1]:
        return True
    return a[2] >= 0 and a[3] >= 0 and b[2] >= 0 and b[3] >= 0 and a[2] == b[2] and a[3] == b[3]


def span_sets_equal(gold: tuple[Span, ...], pred: tuple[Span, ...]) -> bool:
    """Every span on one side equals some span on the other (both without null spans)."""
    return (all(any(spans_equal(p, g) for g in gold) for p in pred)
            and all(any(spans_equal(p, g) for p in pred) for g in gold))


# --------------------------------------------------------------------------- predictions

def _prediction(item: Any, index: int, source: str) -> Prediction:
    if not isinstance(item, Mapping):
        raise PredictionError(source, None, f"predictions[{index}] is not an object")
    if "example_id" not in item:
        raise PredictionError(source, None, f"predictions[{index}] lacks 'example_id'")
    try:
        example_id = example_id_from_json(item["example_id"])
    except TypeError as err:
        raise PredictionError(source, None, f"predictions[{index}]: {err}") from None
    try:
        # The official reader needs the key too; an explicit null is a null long answer.
        if "long_answer" not in item:
            raise ValueError("lacks 'long_answer' (give a null span, all offsets -1, for no answer)")
        long_raw = item["long_answer"]
        long_span = NULL_SPAN if long_raw is None else span_from_json(long_raw, "long_answer", False)
        shorts = item.get("short_answers")
        if shorts is None:
            shorts = []
        if not isinstance(shorts, list):
            raise ValueError("short_answers is not a list")
        short_spans = tuple(s for s in (span_from_json(s, f"short_answers[{j}]", False)
                                        for j, s in enumerate(shorts)) if not s.is_null)
        yes_no = item.get("yes_no_answer")
        if yes_no is None:
            yes_no = "none"
        if not isinstance(yes_no, str) or yes_no.lower() not in ("yes", "no", "none"):
            raise ValueError(f"yes_no_answer {yes_no!r} is not YES, NO or NONE")
        yes_no = yes_no.lower()
        if yes_no != "none" and short_spans:
            raise ValueError(f"yes_no_answer {item['yes_no_answer']!r} together with non-null short_answers "
                             "(give one or the other)")
        scores = []
        for key in ("long_answer_score", "short_answers_score"):
            if key not in item:
                raise ValueError(f"lacks '{key}'")
            scores.append(score_from_json(item[key], key))
    except ValueError as err:
        raise PredictionError(source, None, f"predictions[{index}] (example_id {example_id}): {err}",
                              example_id) from None
    return Prediction(example_id, long_span, scores[0], short_spans, scores[1], yes_no)


def _read_predictions_json(name: str) -> Any:
    try:
        with open(name, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise PredictionError(name, None, f"cannot read the predictions ({err.strerror or err})") from None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        # Python's json module writes (and reads) Infinity / NaN scores and integers beyond
        # 64 bits (refused later, by id); orjson does not.
        try:
            return json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            line = getattr(err, "lineno", None)
            reason = f"{err.msg}, column {err.colno}" if line else str(err)
            raise PredictionError(name, line, f"not valid JSON ({reason})") from None


def load_predictions(source: Any) -> dict[int, Prediction]:
    """Predictions from a JSON file path, a {"predictions": [...]} object or a list of predictions."""
    name = "<predictions>"
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        source = _read_predictions_json(name)
    if isinstance(source, Mapping):
        if "predictions" not in source:
            raise PredictionError(name, None, "the JSON object lacks the key 'predictions'")
        items = source["predictions"]
    else:
        items = source
    if not isinstance(items, list):
        raise PredictionError(name, None, "'predictions' is not a list")
    out: dict[int, Prediction] = {}
    for index, item in enumerate(items):
        pred = _prediction(item, index, name)
        if pred.example_id in out:
            raise PredictionError(name, None, f"predictions[{index}]: example_id {pred.example_id} "
                                  "is predicted twice", pred.example_id)
        out[pred.example_id] = pred
    return out


# --------------------------------------------------------------------------- scoring

def gold_has_answers(annotations: tuple[GoldAnnotation, ...], long_non_null_threshold: int = 2,
                     short_non_null_threshold: int = 2) -> tuple[bool, bool]:
    """(gold has a long answer, gold has a short answer) under the annotator thresholds."""
    # An example with no annotation at all never has a gold answer, whatever the threshold.
    if not annotations:
        return False, False
    return (sum(a.has_long for a in annotations) >= long_non_null_threshold,
            sum(a.has_short for a in annotations) >= short_non_null_threshold)


def score_example(annotations: tuple[GoldAnnotation, ...], pred: Optional[Prediction],
                  long_non_null_threshold: int = 2, short_non_null_threshold: int = 2
                  ) -> tuple[AnswerStat, AnswerStat]:
    """The long and the short AnswerStat of one example (`pred` None: no prediction)."""
    gold_long, gold_short = gold_has_answers(annotations, long_non_null_threshold, short_non_null_threshold)
    if pred is None:
        return AnswerStat(gold_long, False, False, None), AnswerStat(gold_short, False, False, None)
    long_ok = gold_long and pred.has_long and any(
        a.has_long and spans_equal(a.long_answer, pred.long_answer) for a in annotations)
    short_ok = False
    if gold_short and pred.has_short:
        if pred.yes_no_answer != "none":
            short_ok = any(a.yes_no_answer == pred.yes_no_answer for a in annotations)
        else:
            short_ok = any(span_sets_equal(a.short_answers, pred.short_answers) for a in annotations)
    return (AnswerStat(gold_long, pred.has_long, long_ok, pred.long_answer_score),
            AnswerStat(gold_short, pred.has_short, short_ok, pred.short_answers_score))


def score_answers(gold: GoldData, predictions: Mapping[int, Prediction], long_non_null_threshold: int = 2,
                  short_non_null_threshold: int = 2, predictions_source: str = "<predictions>"
                  ) -> tuple[list[AnswerStat], list[AnswerStat]]:
    """One AnswerStat per gold example for long and for short answers (gold order)."""
    examples = gold.examples
    unknown = [eid for eid in predictions if eid not in examples]
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise PredictionError(predictions_source, None, f"example_id {unknown[0]} is not in the gold data "
                              f"{gold.source}{more}", unknown[0])
    long_stats, short_stats = [], []
    for eid, anns in examples.items():
        long_stat, short_stat = score_example(anns, predictions.get(eid), long_non_null_threshold,
                                              short_non_null_threshold)
        long_stats.append(long_stat)
        short_stats.append(short_stat)
    return long_stats, short_stats


def _ratio(x, y):
    return x / y if y else 0


def pr_curve(stats: list[AnswerStat]) -> list[PRPoint]:
    """Precision and recall after each group of equal scores, by decreasing score.

    Only examples with a prediction move the curve: one without (or with a null
    answer) adds neither a prediction nor a correct answer, so it cannot change any
    threshold the sweep picks.
    """
    total_gold = sum(s.has_gold for s in stats)
    scored = sorted((s for s in stats if s.has_pred), key=lambda s: s.score, reverse=True)
    points = []
    correct = predicted = 0
    i, n = 0, len(scored)
    while i < n:
        threshold = scored[i].score
        while i < n and scored[i].score == threshold:
            correct += scored[i].is_correct
            predicted += 1
            i += 1
        points.append(PRPoint(threshold, _ratio(correct, predicted), _ratio(correct, total_gold)))
    return points


def _sweep(stats: list[AnswerStat], targets=TARGET_PRECISIONS):
    best = (0.0, 0.0, 0.0, 0.0)  # f1, precision, recall, threshold
    at_target = [[0, 0, None] for _ in targets]  # recall, precision, threshold
    for threshold, precision, recall in pr_curve(stats):
        for t, target in enumerate(targets):
            if precision >= target and recall > at_target[t][0]:
                at_target[t] = [recall, precision, threshold]
        f1 = _ratio(2 * precision * recall, precision + recall)
        if f1 > best[0]:
            best = (f1, precision, recall, threshold)
    return best, at_target


def _metrics_for(stats: list[AnswerStat], prefix: str) -> dict:
    (f1, precision, recall, threshold), at_target = _sweep(stats)
    out = {
        f"{prefix}best-threshold-f1": f1,
        f"{prefix}best-threshold-precision": precision,
        f"{prefix}best-threshold-recall": recall,
        f"{prefix}best-threshold": threshold,
    }
    for target, (r, p, _) in zip(TARGET_PRECISIONS, at_target):
        out[f"{prefix}recall-at-precision>={target:.2}"] = r
        out[f"{prefix}precision-at-precision>={target:.2}"] = p
    return out


def metrics_from_stats(long_stats: list[AnswerStat], short_stats: list[AnswerStat]) -> dict:
    """The official metrics dictionary (same keys, same order, same values)."""
    metrics = _metrics_for(long_stats, "long-")
    metrics.update(_metrics_for(short_stats, "short-"))
    return metrics


def unthresholded_scores(stats: list[AnswerStat]) -> tuple[int, float, float, float]:
    """(n, f1, precision, recall) counting every prediction, whatever its score."""
    correct = sum(s.is_correct for s in stats)
    precision = _ratio(correct, sum(s.has_pred for s in stats))
    recall = _ratio(correct, sum(s.has_gold for s in stats))
    return len(stats), _ratio(2 * precision * recall, precision + recall), precision, recall


def _as_gold(gold: Any, **load_kwargs) -> GoldData:
    if isinstance(gold, GoldData):
        return gold
    if isinstance(gold, (str, os.PathLike)):
        return load_gold(gold, **load_kwargs)
    return gold_from_json(gold)


def _as_predictions(predictions: Any) -> tuple[dict[int, Prediction], str]:
    if isinstance(predictions, (str, os.PathLike)):
        return load_predictions(predictions), os.fspath(predictions)
    if isinstance(predictions, Mapping) and "predictions" not in predictions and all(
            isinstance(p, Prediction) for p in predictions.values()):
        return dict(predictions), "<predictions>"
    return load_predictions(predictions), "<predictions>"


def evaluate_report(gold: Any, predictions: Any, long_non_null_threshold: int = 2,
                    short_non_null_threshold: int = 2, *, cache_gold_data: bool = False,
                    cache_dir: Optional[PathLike] = None, num_threads: int = _DEFAULT_THREADS) -> EvalReport:
    """Like `evaluate`, also returning the per-example statistics (for tables and plots)."""
    gold_data = _as_gold(gold, cache_gold_data=cache_gold_data, cache_dir=cache_dir, num_threads=num_threads)
    preds, source = _as_predictions(predictions)
    long_stats, short_stats = score_answers(gold_data, preds, long_non_null_threshold,
                                            short_non_null_threshold, predictions_source=source)
    return EvalReport(metrics_from_stats(long_stats, short_stats), long_stats, short_stats)


def evaluate(gold: Any, predictions: Any, long_non_null_threshold: int = 2, short_non_null_threshold: int = 2,
             *, cache_gold_data: bool = False, cache_dir: Optional[PathLike] = None,
             num_threads: int = _DEFAULT_THREADS) -> dict:
    """The official NQ metrics dictionary.

    gold: a path / glob / comma list of NQ JSON-lines files (original or simplified, gzipped
      or not), a `GoldData` from `load_gold`, {example_id: [annotation dicts]}, or a list of
      NQ example dicts.
    predictions: a path to the predictions JSON, the parsed {"predictions": [...]} object, a
      list of prediction dicts, or the {example_id: Prediction} dict from `load_predictions`.
    long/short_non_null_threshold: annotators needed for gold to have an answer (2 for the
      5-way dev set, 1 for singly annotated training data).
    Raises `NqEvalError` (a ValueError) on bad gold or predictions.
    """
    return evaluate_report(gold, predictions, long_non_null_threshold, short_non_null_threshold,
                           cache_gold_data=cache_gold_data, cache_dir=cache_dir,
                           num_threads=num_threads).metrics


# --------------------------------------------------------------------------- reports

def _fmt(value: Any, spec: str) -> str:
    if value is None:
        return "n/a"
    return format(float(value), spec)


def format_tables(report: EvalReport) -> str:
    """The official --pretty_print text (R@P tables, then metrics ignoring scores)."""
    lines = []
    for title, stats in (("LONG", report.long_stats), ("SHORT", report.short_stats)):
        (f1, precision, recall, threshold), at_target = _sweep(stats)
        lines += ["*" * 20, f"{title} ANSWER R@P TABLE:",
                  f"Optimal threshold: {_fmt(threshold, '.5')}",
                  " F1     /  P      /  R",
                  "{: >7.2%} / {: >7.2%} / {: >7.2%}".format(f1, precision, recall)]
        for target, (r, p, thr) in zip(TARGET_PRECISIONS, at_target):
            lines.append(f"R@P={target}: {r:.2%} (actual p={p:.2%}, score threshold={_fmt(thr, '.4')})")
    n, lf1, lp, lr = unthresholded_scores(report.long_stats)
    _, sf1, sp, sr = unthresholded_scores(report.short_stats)
    lines += ["*" * 20, f"METRICS IGNORING SCORES (n={n}):",
              "              F1     /  P      /  R",
              "Long answer  {: >7.2%} / {: >7.2%} / {: >7.2%}".format(lf1, lp, lr),
              "Short answer {: >7.2%} / {: >7.2%} / {: >7.2%}".format(sf1, sp, sr)]
    return "\n".join(lines)


def _import_pyplot_free_matplotlib():
    """The Agg canvas and Figure, without touching pyplot's global backend."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise NqEvalError("--plot_path", None, f"plotting needs matplotlib ({err}); "
                          "install it with: pip install 'nq-baseline[plot]'") from None
    return FigureCanvasAgg, Figure


def render_pr_plot(report: EvalReport) -> bytes:
    """PNG bytes: precision-recall curves of long and short answers, best-F1 points marked."""
    import io

    FigureCanvasAgg, Figure = _import_pyplot_free_matplotlib()
    fig = Figure(figsize=(10, 4.5))
    FigureCanvasAgg(fig)
    for k, (title, stats, prefix) in enumerate((("Long answer", report.long_stats, "long-"),
                                                 ("Short answer", report.short_stats, "short-"))):
        ax = fig.add_subplot(1, 2, k + 1)
        curve = pr_curve(stats)
        if curve:
            ax.plot([p.recall for p in curve], [p.precision for p in curve], drawstyle="steps-post", lw=1.5)
        m = report.metrics
        ax.plot([m[prefix + "best-threshold-recall"]], [m[prefix + "best-threshold-precision"]], "o",
                label=f"best F1 {m[prefix + 'best-threshold-f1']:.3f} "
                      f"@ {_fmt(m[prefix + 'best-threshold'], '.4')}")
        for target in TARGET_PRECISIONS:
            ax.axhline(target, color="grey", lw=0.5, ls=":")
        ax.set(title=title, xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02))
        ax.legend(loc="lower left")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()
