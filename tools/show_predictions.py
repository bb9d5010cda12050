#!/usr/bin/env python
"""Shows a few predictions next to the gold answers, as text and as an HTML report.

  python tools/show_predictions.py --gold_path dev-full.jsonl.gz \
      --predictions_path predictions.json [--num 5] [--seed 1] [--html_out report.html] \
      [--metrics_path metrics.json | --long_threshold T --short_threshold T]

The gold file is NQ jsonl(.gz) in either format (read with nq_data); the predictions are
the official JSON ({"predictions": [{"example_id", "long_answer", "short_answers",
"yes_no_answer", ...}]}).  Examples are the first --num gold examples that have a
prediction, or a random sample of them with --seed (streamed: the gold is read once).
For each: the question, the predicted long answer (HTML tokens dropped, ~40 words) and
short answer (or YES/NO), the gold ones (the first annotation with a long answer), and
whether each prediction is right, judged by nq_eval's own rule (`nq_eval.score_example`):
the long answer equals some annotator's long span, the short answer some annotator's span
set or yes/no answer (spans equal by byte offsets where both sides have them, else by
tokens); no answer is right when the gold has none. "Gold has an answer" is the official
rule: at least 2 annotators gave one (for files with one annotation per example, like NQ
train: that one did).

Scores and thresholds: the official metrics count a prediction as an answer only when its
score reaches the threshold (nq_eval reports F1 at the best one). With `--metrics_path`
(the JSON `nq_eval --output_path` writes: its `long-best-threshold` and
`short-best-threshold`) or explicit `--long_threshold` / `--short_threshold`, an answer
scored below its threshold is shown as "no answer" (with its score) and judged as one, so
the rows agree with the reported F1. Without thresholds every predicted span counts.
"""

from __future__ import annotations

import argparse
import html
import random
import sys
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from nq_baseline.evaluation import scorer as nq_eval

from nq_baseline.common import fileio, cli, inputs

from nq_baseline.reading import nq_data
from nq_baseline.evaluation.scorer import NULL_SPAN, AnswerStat, GoldAnnotation, Prediction, Span, load_predictions

MAX_WORDS = 40
NO_ANSWER = "no answer"


def _token_range(doc: nq_data.NqDocument, span) -> Optional[tuple[int, int]]:
    """A span (Span, ShortSpan, Candidate or Annotation long fields) -> token [start, end), None if null."""
    if span.start_token >= 0 and span.end_token > span.start_token:
        return span.start_token, span.end_token
    if span.start_byte >= 0 and span.end_byte > span.start_byte and doc.start_bytes is not None:
        inside = [i for i, (s, e) in enumerate(zip(doc.start_bytes, doc.end_bytes))
                  if s >= span.start_byte and e <= span.end_byte and s >= 0]
        if inside:
            return inside[0], inside[-1] + 1
    return None


def span_text(doc: nq_data.NqDocument, rng: Optional[tuple[int, int]], max_words: int = MAX_WORDS) -> str:
    """The words of a token range (HTML tokens dropped), shortened to max_words with '...'."""
    if rng is None:
        return NO_ANSWER
    words = [t for t, h in zip(doc.tokens[rng[0]:rng[1]], doc.is_html[rng[0]:rng[1]]) if not h]
    if len(words) > max_words:
        return " ".join(words[:max_words]) + " ..."
    return " ".join(words)


def _gold_annotations(doc: nq_data.NqDocument) -> tuple[GoldAnnotation, ...]:
    """The document's annotations as the scorer reads them (null short spans dropped)."""
    out = []
    for a in doc.annotations:
        long_span = Span(a.long_start_byte, a.long_end_byte, a.long_start_token, a.long_end_token)
        shorts = (Span(s.start_byte, s.end_byte, s.start_token, s.end_token) for s in a.short_answers)
        out.append(GoldAnnotation(long_span, tuple(s for s in shorts if not s.is_null), a.yes_no_answer.lower()))
    return tuple(out)


def _below(score: float, threshold: Optional[float]) -> bool:
    return threshold is not None and score < threshold


def _as_counted(pred: Prediction, long_threshold: Optional[float], short_threshold: Optional[float]
                ) -> tuple[Prediction, bool, bool]:
    """(the prediction as the metrics count it, long cut, short cut): an answer scored below
    its threshold is no answer, as at that point of nq_eval's threshold sweep."""
    long_cut = pred.has_long and _below(pred.long_answer_score, long_threshold)
    short_cut = pred.has_short and _below(pred.short_answers_score, short_threshold)
    if long_cut:
        pred = pred._replace(long_answer=NULL_SPAN)
    if short_cut:
        pred = pred._replace(short_answers=(), yes_no_answer="none")
    return pred, long_cut, short_cut


def _right(stat: AnswerStat) -> bool:
    """A prediction is right when nq_eval counts it correct; no answer is right when gold has none."""
    return stat.is_correct if stat.has_pred else not stat.has_gold


def _first_gold_texts(doc: nq_data.NqDocument) -> tuple[str, str]:
    """(long, short) texts of the first annotation with a long answer."""
    first = next((a for a in doc.annotations if a.has_long_answer), None)
    if first is None:
        return NO_ANSWER, NO_ANSWER
    long_text = span_text(doc, _token_range(doc, Span(first.long_start_byte, first.long_end_byte,
                                                      first.long_start_token, first.long_end_token)))
    if first.yes_no_answer.upper() != "NONE":
        return long_text, first.yes_no_answer.upper()
    ranges = sorted(r for r in (_token_range(doc, s) for s in first.short_answers) if r is not None)
    return long_text, " | ".join(span_text(doc, r) for r in ranges) if ranges else NO_ANSWER


def _short_text(doc: nq_data.NqDocument, pred: Prediction) -> str:
    if pred.yes_no_answer != "none":
        return pred.yes_no_answer.upper()
    ranges = sorted({r for r in (_token_range(doc, s) for s in pred.short_answers) if r is not None})
    return " | ".join(span_text(doc, r) for r in ranges) if ranges else NO_ANSWER


def judge(doc: nq_data.NqDocument, pred: Prediction, long_threshold: Optional[float] = None,
          short_threshold: Optional[float] = None) -> dict:
    """One example -> the texts and the right/wrong flags, by nq_eval's `score_example` (see
    the module doc); an answer scored below its threshold counts as no answer."""
    counted, long_cut, short_cut = _as_counted(pred, long_threshold, short_threshold)
    # The official rule: gold has an answer when at least 2 annotators give one (NQ dev's 5);
    # a file with one annotation per example (NQ train) needs that one.
    need = min(2, len(doc.annotations))
    long_stat, short_stat = nq_eval.score_example(_gold_annotations(doc), counted, need, need)
    gold_long_text, gold_short_text = _first_gold_texts(doc)
    if long_cut:
        pred_long_text = f"{NO_ANSWER} (below the threshold {long_threshold:.4g})"
    else:
        pred_long_text = span_text(doc, _token_range(doc, counted.long_answer))
    if short_cut:
        pred_short_text = f"{NO_ANSWER} (below the threshold {short_threshold:.4g})"
    else:
        pred_short_text = _short_text(doc, counted)
    return {
        "example_id": doc.example_id,
        "title": doc.title,
        "question": doc.question_text,
        "pred_long": pred_long_text,
        "pred_short": pred_short_text,
        "long_score": pred.long_answer_score,
        "short_score": pred.short_answers_score,
        "gold_long": gold_long_text,
        "gold_short": gold_short_text,
        "long_correct": _right(long_stat),
        "short_correct": _right(short_stat),
        "num_annotations": len(doc.annotations),
    }


def _as_predictions(predictions: Any) -> Mapping[int, Prediction]:
    if isinstance(predictions, Mapping) and all(isinstance(v, Prediction) for v in predictions.values()):
        return predictions
    return load_predictions(predictions)


def render_examples(docs: Iterable[nq_data.NqDocument], predictions: Any, num: int = 5,
                    seed: Optional[int] = None, long_threshold: Optional[float] = None,
                    short_threshold: Optional[float] = None) -> list[dict]:
    """Rows for `num` gold documents that have a prediction: the first ones, or a seeded
    random sample (reservoir sampling, one pass, kept in gold order).

    `predictions`: a path, a {"predictions": [...]} object, a list, or {example_id: Prediction}."""
    preds = _as_predictions(predictions)
    if num <= 0:
        return []
    rng = random.Random(seed) if seed is not None else None
    chosen: list[tuple[int, nq_data.NqDocument]] = []  # (position among matches, doc)
    seen = 0
    for doc in docs:
        if doc.example_id not in preds:
            continue
        if rng is None:
            chosen.append((seen, doc))
            seen += 1
            if len(chosen) >= num:
                break
            continue
        if len(chosen) < num:
            chosen.append((seen, doc))
        else:
            j = rng.randrange(seen + 1)
            if j < num:
                chosen[j] = (seen, doc)
        seen += 1
    chosen.sort(key=lambda item: item[0])
    return [judge(doc, preds[doc.example_id], long_threshold, short_threshold) for _, doc in chosen]


def _mark(ok: bool) -> str:
    return "RIGHT" if ok else "WRONG"


def to_text(rows: list[dict]) -> str:
    out = []
    for i, r in enumerate(rows, 1):
        title = f" ({r['title']})" if r["title"] else ""
        out.append(f"[{i}] example {r['example_id']}{title}")
        out.append(f"  question:     {r['question']}")
        out.append(f"  pred long:    [{_mark(r['long_correct'])}] {r['pred_long']}  (score {r['long_score']:.3f})")
        out.append(f"  gold long:    {r['gold_long']}")
        out.append(f"  pred short:   [{_mark(r['short_correct'])}] {r['pred_short']}  (score {r['short_score']:.3f})")
        out.append(f"  gold short:   {r['gold_short']}")
        out.append("")
    n = len(rows)
    out.append(f"{n} examples: long right {sum(r['long_correct'] for r in rows)}/{n}, "
               f"short right {sum(r['short_correct'] for r in rows)}/{n}")
    return "\n".join(out)


_CSS = """
body { font-family: sans-serif; max-width: 60em; margin: 2em auto; color: #222; }
.ex { border: 1px solid #ccc; border-radius: 6px; padding: 0.6em 1em; margin: 1em 0; }
.q { font-weight: bold; font-size: 1.1em; }
table { border-collapse: collapse; width: 100%; }
td { vertical-align: top; padding: 0.3em 0.5em; border-top: 1px solid #eee; }
td.k { width: 9em; color: #555; white-space: nowrap; }
.right { color: #fff; background: #2a7; padding: 0 0.4em; border-radius: 3px; }
.wrong { color: #fff; background: #c33; padding: 0 0.4em; border-radius: 3px; }
.meta { color: #777; font-size: 0.9em; }
"""


def to_html(rows: list[dict], title: str = "NQ predictions") -> str:
    """A self-contained HTML report of the rows (every text escaped)."""
    e = lambda v: html.escape(str(v), quote=True)  # noqa: E731

    def badge(ok: bool) -> str:
        return f'<span class="{"right" if ok else "wrong"}">{_mark(ok)}</span>'

    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{e(title)}</title>", f"<style>{_CSS}</style></head><body>", f"<h1>{e(title)}</h1>"]
    n = len(rows)
    parts.append(f'<p class="meta">{n} examples: long right {sum(r["long_correct"] for r in rows)}/{n}, '
                 f'short right {sum(r["short_correct"] for r in rows)}/{n}</p>')
    for i, r in enumerate(rows, 1):
        parts.append('<div class="ex">')
        parts.append(f'<div class="meta">[{i}] example {e(r["example_id"])}'
                     + (f" &middot; {e(r['title'])}" if r["title"] else "") + "</div>")
        parts.append(f'<div class="q">{e(r["question"])}</div><table>')
        parts.append(f'<tr><td class="k">predicted long</td><td>{badge(r["long_correct"])} '
                     f'{e(r["pred_long"])} <span class="meta">(score {r["long_score"]:.3f})</span></td></tr>')
        parts.append(f'<tr><td class="k">gold long</td><td>{e(r["gold_long"])}</td></tr>')
        parts.append(f'<tr><td class="k">predicted short</td><td>{badge(r["short_correct"])} '
                     f'{e(r["pred_short"])} <span class="meta">(score {r["short_score"]:.3f})</span></td></tr>')
        parts.append(f'<tr><td class="k">gold short</td><td>{e(r["gold_short"])}</td></tr>')
        parts.append("</table></div>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


PROGRAM = "show_predictions"


def _thresholds(path: str, long_t: Optional[float], short_t: Optional[float]) -> tuple[float, float]:
    """The best thresholds of an nq_eval metrics JSON (explicit flags win)."""
    import json
    try:
        with open(path, "rb") as handle:
            metrics = json.loads(handle.read())
    except OSError as err:
        raise ValueError(f"--metrics_path={path}: cannot read ({err.strerror or err})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a metrics JSON ({err})") from None
    try:
        long_v = long_t if long_t is not None else _finite(metrics["long-best-threshold"])
        short_v = short_t if short_t is not None else _finite(metrics["short-best-threshold"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: no usable best threshold ({err}); give nq_eval's --output_path JSON") from None
    return long_v, short_v


def _finite(value) -> float:
    """A threshold: a number, not NaN (a NaN would let every answer through unnoticed)."""
    if isinstance(value, bool):
        raise TypeError(f"{value!r} is not a number")
    number = float(value)
    if number != number:
        raise ValueError("NaN is not a threshold")
    return number


def _threshold_flag(text: str) -> float:
    try:
        return _finite(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (NaN is refused)") from None


def _count_flag(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit status 2, like every program here
        cli.fail(PROGRAM, message)


def _parse(argv):
    parser = _Parser(prog=PROGRAM, description=__doc__.split("\n\n")[0])
    parser.add_argument("--gold_path", required=True, help="NQ jsonl(.gz), either format (glob / comma list)")
    parser.add_argument("--predictions_path", required=True, help="official predictions JSON")
    parser.add_argument("--num", type=_count_flag, default=5, help="examples to show (>= 1)")
    parser.add_argument("--seed", type=int, default=None, help="random sample (default: the first --num)")
    parser.add_argument("--html_out", default=None, help="write a self-contained HTML report here")
    parser.add_argument("--metrics_path", default=None,
                        help="nq_eval's --output_path JSON: use its long/short best thresholds")
    parser.add_argument("--long_threshold", type=_threshold_flag, default=None,
                        help="long answers scored below are null")
    parser.add_argument("--short_threshold", type=_threshold_flag, default=None,
                        help="short answers scored below are null")
    return parser.parse_args(argv)


def _write_html(path: str, rows: list[dict]) -> None:
    try:
        fileio.atomic_write(path, to_html(rows))
    except OSError as err:
        reason = err.strerror or str(err)
        if isinstance(err, (FileExistsError, NotADirectoryError)):
            reason = "a part of its folder path is a file"
        cli.fail(PROGRAM, f"--html_out={path}: cannot write ({reason})")


def main(argv=None) -> int:
    args = _parse(argv)
    try:
        long_t, short_t = args.long_threshold, args.short_threshold
        if args.metrics_path:
            long_t, short_t = _thresholds(args.metrics_path, long_t, short_t)
        preds = load_predictions(args.predictions_path)
        inputs.expand_paths(args.gold_path)  # a directory or a pattern matching nothing: named here
        rows = render_examples(nq_data.read_documents(args.gold_path), preds, args.num, args.seed, long_t, short_t)
    except (ValueError, OSError) as err:  # NqInputError is a ValueError
        cli.fail(PROGRAM, str(err))
    if args.html_out:  # written before anything is printed: a failure leaves no half report
        _write_html(args.html_out, rows)
    if not rows:
        print(f"{PROGRAM}: no gold example has a prediction", file=sys.stderr)
    print(to_text(rows))
    if args.html_out:
        print(f"wrote {args.html_out}")
    return 0


if __name__ == "__main__":
    fileio.install_signal_cleanup()
    sys.exit(main())
