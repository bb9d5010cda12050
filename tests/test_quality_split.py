"""benchmarks/quality.py's split and sampling: three splits by article (train, development,
test), no article and no question in two of them, the same split for the same seed; the
scored samples drawn from their own split; the answerable / null-rejection figures on a
hand-made case; the precision chosen from the CPU's flags."""

import collections
import gzip
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, SQUAD_SLICE, squad_slice

QUALITY = ROOT / "benchmarks" / "quality.py"




@pytest.fixture(scope="module")
def source_articles():
    """question text -> the titles of the SQuAD articles that ask it, read from the slice itself."""
    asked = collections.defaultdict(set)
    for article in squad_slice():
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                asked[qa["question"]].add(article["title"].replace("_", " "))
    return asked


def examples(path):
    with gzip.open(path, "rt", encoding="utf-8") as h:
        return [json.loads(line) for line in h]


@pytest.fixture(scope="module")
def splits(quality, tmp_path_factory):
    out = tmp_path_factory.mktemp("split")
    split = quality.split_articles(39, 27, 6, seed=0)
    paths = quality.write_splits(str(SQUAD_SLICE), str(out), split, null_rate=0.2)
    return split, paths


def test_each_split_holds_its_own_articles_and_questions(quality, splits, source_articles):
    split, paths = splits
    titles = quality.split_titles(split)
    assert [len(titles[name]) for name in quality.SPLITS] == [27, 6, 6]
    shown = {name: {t.replace("_", " ") for t in titles[name]} for name in quality.SPLITS}
    assert set.union(*shown.values()) == set().union(*source_articles.values())  # all 39 used
    questions = {}
    for name in quality.SPLITS:
        found = examples(paths[name])
        nulls = [e for e in found if not any(a["long_answer"]["candidate_index"] >= 0 for a in e["annotations"])]
        assert nulls and len(nulls) < len(found)
        for e in found:
            # the page is one of this split's articles, and so is the article the question comes from
            # (a null example asks it over another article of the same split)
            assert e["document_title"] in shown[name], (name, e["document_title"])
            assert source_articles[e["question_text"]] <= shown[name], (name, e["question_text"])
        questions[name] = {e["question_text"] for e in found}
        assert {t for e in found for t in [e["document_title"]]} == shown[name]
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert not questions[quality.SPLITS[a]] & questions[quality.SPLITS[b]]
        assert not shown[quality.SPLITS[a]] & shown[quality.SPLITS[b]]


def test_the_same_seed_gives_the_same_split(quality, splits, tmp_path):
    split, paths = splits
    assert quality.split_articles(39, 27, 6, seed=0) == split
    again = quality.write_splits(str(SQUAD_SLICE), str(tmp_path), split, null_rate=0.2)
    for name in quality.SPLITS:
        assert open(again[name], "rb").read() == open(paths[name], "rb").read()
    other = quality.split_articles(39, 27, 6, seed=1)
    assert other["test"] != split["test"] and other["development"] != split["development"]


def test_samples_come_from_their_split_and_repeat_with_the_seed(quality, splits, tmp_path):
    _, paths = splits
    drawn = {}
    for name in ("development", "test"):
        lines = gzip.open(paths[name], "rb").readlines()
        sample = quality.sample_questions(paths[name], 15)
        picked = gzip.open(sample, "rb").readlines()
        assert len(picked) == 15 and set(picked) <= set(lines)
        assert [lines.index(x) for x in picked] == sorted(lines.index(x) for x in picked)  # file order kept
        first = open(sample, "rb").read()
        assert open(quality.sample_questions(paths[name], 15), "rb").read() == first
        drawn[name] = {json.loads(x)["question_text"] for x in picked}
        assert quality.sample_questions(paths[name], 0) == paths[name]
    assert not drawn["development"] & drawn["test"]


def _annotation(candidate, start=-1, end=-1, short=()):
    return {"long_answer": {"candidate_index": candidate, "start_token": start, "end_token": end,
                            "start_byte": -1, "end_byte": -1},
            "short_answers": [{"start_token": s, "end_token": e, "start_byte": -1, "end_byte": -1} for s, e in short],
            "yes_no_answer": "NONE"}


def _prediction(example_id, long, score, short=None):
    span = {"start_token": -1, "end_token": -1, "start_byte": -1, "end_byte": -1}
    long_answer = dict(span, start_token=long[0], end_token=long[1]) if long else span
    return {"example_id": example_id, "long_answer": long_answer,
            "long_answer_score": score, "yes_no_answer": "NONE", "short_answers_score": score,
            "short_answers": [dict(span, start_token=short[0], end_token=short[1])] if short else []}


def test_answer_scores_by_hand(quality):
    """Four answerable examples (two annotators each) and two nulls; worked out by hand:
    - long, all six: best threshold 1 (examples 1-5 at or above it: 3 right of 5, 4 gold) -> P 3/5,
      R 3/4, F1 2/3; the answerable alone: best threshold 1 (3 right of 4) -> F1 3/4;
    - the null example 5 (score 7) is answered at threshold 1, null 6 (score 0.5) is not: 1/2 rejected;
    - the top long answer is right for 3 of the 4 answerable examples, whatever its score."""
    gold_long = [(0, 10), (10, 20), (20, 30), (30, 40)]
    gold = {}
    for eid, (s, e) in enumerate(gold_long, 1):
        gold[eid] = [_annotation(0, s, e, [(s + 1, s + 2)])] * 2
    gold[5] = gold[6] = [_annotation(-1)] * 2
    preds = [_prediction(1, (0, 10), 9.0, (1, 2)), _prediction(2, (0, 10), 8.0),
             _prediction(3, (20, 30), 1.0, (21, 22)), _prediction(4, (30, 40), 2.0, (31, 33)),
             _prediction(5, (0, 10), 7.0), _prediction(6, (0, 10), 0.5)]
    scores = quality.answer_scores(gold, {"predictions": preds})
    assert scores["long-best-threshold-f1"] == round(2 / 3, 4)
    assert scores["long-best-threshold-precision"] == 0.6
    assert scores["long-answerable-f1"] == 0.75
    assert scores["long-null-rejection"] == 0.5
    assert scores["long-top1-paragraph"] == 0.75
    assert (scores["answerable"], scores["null"]) == (4, 2)
    # short: right for examples 1 and 3 (4's span is too long, 2 has none); answerable alone:
    # threshold 1 -> 2 right of 3 predicted, 4 gold -> F1 4/7
    assert scores["short-answerable-f1"] == round(4 / 7, 4)


def test_the_headline_variant_is_chosen_on_development_alone(quality):
    def row(long, short):
        return {"long-best-threshold-f1": long, "short-best-threshold-f1": short, "long-top1-paragraph": long}

    def report(variants):
        return {"variants": variants, "idf_floor": row(0.7, 0.0)}

    development = report({"span": row(0.6, 0.4), "span+lexical": row(0.7, 0.3), "head": row(0.7, 0.35)})
    test = report({"span": row(0.9, 0.9), "span+lexical": row(0.5, 0.2), "head": row(0.6, 0.3)})
    chosen = quality.choose_variant(development)
    assert chosen == "head"  # best long F1 on development, short F1 breaking the tie; test's best is "span"
    figures = quality.headline({"development": development, "test": test}, chosen)
    assert figures["variant"] == "head" and figures["test"]["long-best-threshold-f1"] == 0.6
    assert figures["test"]["idf_floor_long_f1"] == 0.7


def test_precision_auto_follows_the_cpu_flags(quality, tmp_path):
    with_bf16 = tmp_path / "amd"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n\n"
                         "processor\t: 1\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n")
    amx = tmp_path / "intel"
    amx.write_text("flags\t\t: fpu avx512f amx_bf16 amx_tile\n")
    without = tmp_path / "old"
    without.write_text("flags\t\t: fpu avx2 avx512f avx512_vnni\nbugs\t\t: avx512_bf16\n")
    assert quality.resolve_precision("auto", str(with_bf16)) == "bf16"
    assert quality.resolve_precision("auto", str(amx)) == "bf16"
    assert quality.resolve_precision("auto", str(without)) == "fp32"
    assert quality.resolve_precision("auto", str(tmp_path / "absent")) == "fp32"
    assert quality.resolve_precision("fp32", str(with_bf16)) == "fp32"


@pytest.mark.parametrize("flags, named", [(["--train_articles=30", "--dev_articles=9"], "--dev_articles 9"),
                                          (["--dev_articles=0"], "--dev_articles 0"),
                                          (["--lexical_weight=-2"], "--lexical_weight"),
                                          (["--predict_max_contexts=-2"], "--predict_max_contexts"),
                                          (["--max_answer_length=0"], "--max_answer_length"),
                                          (["--test_questions=-1"], "--test_questions")])
def test_bad_split_flags_exit_2_in_one_line(tmp_path, flags, named):
    proc = subprocess.run([sys.executable, str(QUALITY), f"--squad={SQUAD_SLICE}", f"--output_dir={tmp_path / 'q'}",
                           *flags], capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and named in lines[0], proc.stderr
    assert not (tmp_path / "q").exists()


def test_the_span_length_limit_is_chosen_by_development_short_f1(quality, tmp_path):
    """One paragraph of 40 one-piece words, its gold short answer words [5, 7). The reader
    scores a 12-piece span [19, 31) best (18), the gold span next (10): bert_joint's 30 gives
    the long span, and every limit under 12 the gold one. Through the real post-processing and
    scorer, the longest limit that finds the gold span is chosen."""
    from nq_baseline.prediction.postprocess import RawResult

    words = [f"w{i}" for i in range(40)]
    annotation = _annotation(0, 0, 40, [(5, 7)])
    example = {"example_id": 7, "question_text": "which words", "document_text": " ".join(words),
               "long_answer_candidates": [{"start_token": 0, "end_token": 40, "top_level": True}],
               "annotations": [annotation, annotation]}
    path = tmp_path / "dev.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as h:
        h.write(json.dumps(example) + "\n")
    seq = 48
    token_map = np.full(seq, -1)
    token_map[1:41] = np.arange(40)  # position p holds word p - 1
    start, end = np.full(seq, -5.0, np.float32), np.full(seq, -5.0, np.float32)
    start[0] = end[0] = 0.0
    start[1 + 19], end[1 + 30] = 9.0, 9.0  # the 12-piece span [19, 31): 18
    start[1 + 5], end[1 + 6] = 5.0, 5.0  # the gold span [5, 7): 10
    result = RawResult(unique_id=1, start_logits=start, end_logits=end,
                       answer_type_logits=np.array([0, 0, 0, 5, 0], np.float32), token_map=token_map,
                       example_id=7, doc_span_index=0)
    chosen, f1 = quality.tune_max_answer_length(str(path), [result])
    assert {n: f1[n] for n in (8, 10, 15, 30)} == {8: 1.0, 10: 1.0, 15: 0.0, 30: 0.0}
    assert chosen == 10
    # the chosen limit applies to every variant but bert_joint's rule, which keeps its 30
    assert quality.variant_config("span+lexical", 2.0, chosen).max_answer_length == 10
    assert quality.variant_config("bert_joint", 0.0, chosen).max_answer_length == 30
