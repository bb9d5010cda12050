"""WordNet synonym augmentation (nq_baseline.features.augment) and the WordNet setup (wordnet_setup)."""

import math
import os
import pickle
import random
import subprocess
import sys

import pytest

from conftest import NQ_REAL, ROOT, real_input
from nq_baseline.reading import nq_data
from nq_baseline.reading.nq_data import Annotation, Candidate, NqDocument, ShortSpan
from nq_baseline.features import wordnet
from nq_baseline.features.augment import (STOP_WORDS, SynonymSource, augment_copies, augment_document,
                                 copy_rng, has_long_answer)

MARKER_TOKENS = ["[ContextId=3]", "[Paragraph=1]", "[Q]", "[CLS]", "[SEP]", "[UNK]", "[unused7]",
                 "[Table=2]", "[NoLongAnswer]"]
HTML_TOKENS = ["<P>", "</P>", "<Table>", "<Tr>", "<Td>", "</Td>", "<Li>", "<H2>", "</H2>"]
WORDS = ("car film movie large country world city president season war song team character "
         "cars films songs countries government built river water island famous quickly "
         "beautiful begin end help show rule law state states worker market marketing "
         "automobile picture history album episode").split()
FILLER = ["the", "of", "and", "in", "was", "which", ",", ".", "1984", "(", ")"]


@pytest.fixture(scope="module")
def syn():
    try:
        return SynonymSource()
    except wordnet.WordNetMissingError as err:
        pytest.skip(f"WordNet cannot be loaded, so augmentation cannot be tested: {err}")


@pytest.fixture(scope="module")
def wn(syn):
    return wordnet.load_wordnet()


def make_doc(n_tokens=3000, seed=0, example_id=123, question="who played the main character in the film",
             long_answer=True) -> NqDocument:
    """A synthetic document: words with synonyms, stop words, punctuation, HTML, markers."""
    r = random.Random(seed)
    tokens, is_html = [], []
    while len(tokens) < n_tokens:
        x = r.random()
        if x < 0.05:
            tok, html = r.choice(HTML_TOKENS), True
        elif x < 0.08:
            tok, html = r.choice(MARKER_TOKENS), False
        elif x < 0.45:
            tok, html = r.choice(FILLER), False
        else:
            tok = r.choice(WORDS)
            y = r.random()
            tok = tok.upper() if y < 0.05 else tok.capitalize() if y < 0.15 else tok
            html = False
        tokens.append(tok)
        is_html.append(html)
    cands = [Candidate(i, min(i + 50, n_tokens), True) for i in range(0, n_tokens, 50)]
    # short answers (two annotations, several spans) over words that have synonyms
    if long_answer:
        ann = [Annotation(3, 150, 200, [ShortSpan(160, 170), ShortSpan(400, 403)], "NONE"),
               Annotation(-1, -1, -1, [ShortSpan(1000, 1020)], "NONE"),
               Annotation(5, 250, 300, [], "YES")]
    else:
        ann = [Annotation(-1, -1, -1, [ShortSpan(160, 170)], "NONE")]
    return NqDocument(example_id=example_id, question_text=question, title="Some title", tokens=tokens,
                      is_html=is_html, candidates=cands, annotations=ann, simplified=True)


def shares_synset(wn, a: str, b: str) -> bool:
    return bool(set(wn.synsets(a.lower())) & set(wn.synsets(b.lower())))


def check_augmented(orig: NqDocument, new: NqDocument, stats: dict, syn: SynonymSource, wn) -> list[int]:
    """The invariants every augmented document keeps; returns the changed positions."""
    assert new is not orig and new.tokens is not orig.tokens
    assert len(new.tokens) == len(orig.tokens)
    assert new.is_html == orig.is_html and new.candidates == orig.candidates
    assert new.annotations == orig.annotations and new.example_id == orig.example_id
    assert new.start_bytes == orig.start_bytes and new.end_bytes == orig.end_bytes
    for ann in orig.annotations:
        for span in ann.short_answers:
            assert new.tokens[span.start_token:span.end_token] == orig.tokens[span.start_token:span.end_token]
    changed = [i for i, (a, b) in enumerate(zip(orig.tokens, new.tokens)) if a != b]
    assert len(changed) == stats["replaced_words"] <= stats["eligible_words"]
    for i in changed:
        a, b = orig.tokens[i], new.tokens[i]
        assert not orig.is_html[i], (i, a, b)
        assert a.isalpha() and b.isalpha() and len(a) >= 3, (i, a, b)
        assert a.lower() not in STOP_WORDS
        assert b.lower() in syn.synonyms(a), (a, b)
        assert shares_synset(wn, a, b), (a, b)
        if a.isupper():
            assert b.isupper(), (a, b)
        elif a[0].isupper():
            assert b == b.capitalize(), (a, b)
        else:
            assert b.islower(), (a, b)
    return changed


# --------------------------------------------------------------------------- synonyms


def test_synonyms_single_words_of_one_pos(syn, wn):
    assert "automobile" in syn.synonyms("car") and "auto" in syn.synonyms("car")
    assert "gondola" not in syn.synonyms("car")  # a rare sense of "car"
    assert "automobiles" in syn.synonyms("cars")  # regular plural: synonyms get the same +s
    assert "movie" in syn.synonyms("film") and "movies" in syn.synonyms("Films")
    assert syn.synonyms("played") == [] and syn.synonyms("said") == []  # inflections we cannot redo
    assert syn.synonyms("Paris") == []  # a name, not a common noun
    assert syn.synonyms("xyzzyq") == []
    assert "twelvemonths" in syn.synonyms("years")  # year+s, not the rarer lemma years = old age
    for word in ("car", "film", "country", "world", "large", "quickly", "begin", "help", "character",
                 "states", "pushing", "market", "government"):
        out = syn.synonyms(word)
        assert out == SynonymSource(wn).synonyms(word)  # deterministic order
        assert len(set(out)) == len(out)
        pos = syn.pos_of(word)
        for s in out:
            assert s.isalpha() and s.islower() and "_" not in s and "-" not in s, (word, s)
            assert s != word and s not in STOP_WORDS
            assert not ({word} | set(wn._morphy(word, pos))) & ({s} | set(wn._morphy(s, pos))), (word, s)
            # drawn from the chosen part of speech only
            assert set(wn.synsets(word, pos)) & set(wn.synsets(s, pos)), (word, pos, s)
    assert syn.pos_of("quickly") == "r" and syn.pos_of("car") == "n" and syn.pos_of("large") == "a"


def test_synonym_source_pickles(syn):
    clone = pickle.loads(pickle.dumps(syn))
    assert clone.synonyms("film") == syn.synonyms("film")


# --------------------------------------------------------------------------- augment_document


def test_deterministic_with_a_fixed_seed(syn):
    doc = make_doc()
    a, sa = augment_document(doc, random.Random(7), 0.3, "both", syn)
    b, sb = augment_document(doc, random.Random(7), 0.3, "both", syn)
    c, _ = augment_document(doc, random.Random(8), 0.3, "both", syn)
    assert a.tokens == b.tokens and a.question_text == b.question_text and sa == sb
    assert a.tokens != c.tokens
    assert doc.tokens == make_doc().tokens  # the input is not mutated


def test_invariants_answers_html_markers_case(syn, wn):
    doc = make_doc(4000, seed=1)
    new, stats = augment_document(doc, random.Random(0), 0.5, "document", syn)
    changed = check_augmented(doc, new, stats, syn, wn)
    assert len(changed) > 200
    assert new.question_text == doc.question_text and stats["question_replaced"] == 0
    for i, tok in enumerate(doc.tokens):
        if doc.is_html[i] or tok in MARKER_TOKENS or not tok.isalpha():
            assert new.tokens[i] == tok


def test_rate_edges_and_every_eligible_word_at_rate_one(syn, wn):
    doc = make_doc(4000, seed=2)
    same, stats = augment_document(doc, random.Random(0), 0.0, "both", syn)
    assert same.tokens == doc.tokens and same.question_text == doc.question_text
    assert stats["replaced_words"] == 0 and stats["eligible_words"] > 0
    full, stats = augment_document(doc, random.Random(0), 1.0, "document", syn)
    assert stats["replaced_words"] == stats["eligible_words"] > 0
    changed = check_augmented(doc, full, stats, syn, wn)
    # every case pattern got replaced somewhere (check_augmented: keeping its case)
    assert any(doc.tokens[i].isupper() for i in changed)
    assert any(doc.tokens[i].istitle() for i in changed)
    assert any(doc.tokens[i].islower() for i in changed)
    with pytest.raises(ValueError):
        augment_document(doc, random.Random(0), 1.5, "document", syn)
    with pytest.raises(ValueError):
        augment_document(doc, random.Random(0), 0.2, "title", syn)


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_observed_rate_matches_the_flag(syn, rate):
    replaced = eligible = 0
    for seed in range(4):
        doc = make_doc(3000, seed=10 + seed)
        _, stats = augment_document(doc, random.Random(seed), rate, "document", syn)
        replaced += stats["replaced_words"]
        eligible += stats["eligible_words"]
    assert eligible > 3000
    sigma = math.sqrt(eligible * rate * (1 - rate))
    assert abs(replaced - rate * eligible) < 4 * sigma, (replaced, eligible)


def test_words_without_synonyms_and_names_are_left_alone(syn):
    tokens = ("<P> The Ford Motor Company built a car in March . Cars were famous . "
              "xylophonist zzzyx played said the WHO car DEC . Car owners like Hulk Hogan . "
              "six films </P>").split()
    doc = NqDocument(1, "q", "t", tokens, [nq_data.is_html_token(t) for t in tokens], [], [])
    new, stats = augment_document(doc, random.Random(0), 1.0, "document", syn)
    keep = {"The", "Ford", "Motor", "Company", "built", "March", "xylophonist", "zzzyx", "played", "said",
            "WHO", "DEC", "Hulk", "Hogan", "six", "<P>", "</P>", "."}
    for a, b in zip(tokens, new.tokens):
        if a in keep:
            assert a == b
    # sentence-initial capitals and plain words are replaced
    changed = {a: b for a, b in zip(tokens, new.tokens) if a != b}
    assert {"car", "Cars", "famous", "films", "Car", "owners"} <= set(changed), changed
    assert changed["Cars"][0].isupper() and changed["films"].endswith("s")


def test_question_scope(syn, wn):
    doc = make_doc(500, seed=3, question="which country built the largest  car in the world")
    only_q, stats = augment_document(doc, random.Random(0), 1.0, "question", syn)
    assert only_q.tokens == doc.tokens and stats["replaced_words"] == 0
    assert stats["question_replaced"] == stats["question_eligible"] == 3  # country, car, world
    words, new_words = doc.question_text.split(" "), only_q.question_text.split(" ")
    assert len(words) == len(new_words) and "" in new_words  # the double space is kept
    for a, b in zip(words, new_words):
        if a != b:
            assert shares_synset(wn, a, b)
    both, stats = augment_document(doc, random.Random(0), 1.0, "both", syn)
    assert both.tokens != doc.tokens and both.question_text != doc.question_text
    just_doc, _ = augment_document(doc, random.Random(0), 1.0, "document", syn)
    assert just_doc.question_text == doc.question_text


def test_augment_copies_independent_of_order(syn, wn):
    d1, d2 = make_doc(800, seed=4, example_id=11), make_doc(800, seed=5, example_id=22)
    first = augment_copies(d1, 3, 0.3, "both", 42, syn) + augment_copies(d2, 3, 0.3, "both", 42, syn)
    second = augment_copies(d2, 3, 0.3, "both", 42, syn)
    second = augment_copies(d1, 3, 0.3, "both", 42, syn) + second
    assert [d.tokens for d, _ in first] == [d.tokens for d, _ in second]
    assert len({tuple(d.tokens) for d, _ in first[:3]}) == 3  # the copies differ
    assert augment_copies(d1, 1, 0.3, "both", 43, syn)[0][0].tokens != first[0][0].tokens
    for new, stats in first[:3]:
        check_augmented(d1, new, stats, syn, wn)
        assert new.example_id == d1.example_id  # unique ids are the caller's business
    assert copy_rng(42, 11, 0).random() == copy_rng(42, 11, 0).random() != copy_rng(42, 11, 1).random()
    assert augment_copies(d1, 0, 0.3, "both", 42, syn) == []
    no_long = make_doc(300, long_answer=False)
    assert not has_long_answer(no_long) and has_long_answer(d1)
    assert augment_copies(no_long, 2, 0.3, "both", 42, syn) == []
    assert len(augment_copies(no_long, 2, 0.3, "both", 42, syn, require_long_answer=False)) == 2


def test_synonym_table_equals_the_wordnet_analysis(syn, wn):
    """The precomputed table (what prepare uses) gives exactly the lazy WordNet analysis:
    on a seeded sample of lemma names, their +s forms, inflections, names and non-words."""
    assert syn._table is not None and len(syn._table) > 10_000
    lazy = SynonymSource(wn, use_table=False)
    names = sorted({n for pos in "nvar" for n in wn.all_lemma_names(pos) if n.isalpha() and n.islower()})
    rng = random.Random(5)
    sample = rng.sample(names, 1500)
    words = (sample + [n + "s" for n in sample[:500]] + [n + "ed" for n in sample[:200]]
             + [n + "ing" for n in sample[:200]] + WORDS
             + "played running cities geese said years mice Paris paris xqzv Bush March".split())
    for word in words:
        for form in (word, word.capitalize(), word.upper()):
            assert syn.surface(form) == lazy.surface(form), form
    with_synonyms = sum(bool(lazy.synonyms(w)) for w in words)
    assert with_synonyms > 300  # the comparison covered many words that do have synonyms


def test_synonym_table_is_reused_from_disk(syn, wn, tmp_path, monkeypatch):
    from nq_baseline.features import augment
    monkeypatch.setenv("NQ_BASELINE_CACHE", str(tmp_path))
    name = augment._table_file_name(syn)
    (tmp_path / name).write_bytes(__import__("gzip").compress(b'{"car": ["zzcar"]}'))
    assert SynonymSource(wn).synonyms("car") == ["zzcar"]  # read, not rebuilt
    (tmp_path / name).write_bytes(b"damaged")
    assert SynonymSource(wn).synonyms("car") == syn.synonyms("car")  # skipped: the next table dir
    assert augment.load_or_build_table(syn) == syn._table


# --------------------------------------------------------------------------- real NQ examples


def test_real_nq_examples(syn, wn):
    pattern = str(NQ_REAL / "*.jsonl.gz")
    docs = list(nq_data.read_documents(pattern))
    assert docs
    total = 0
    for k, doc in enumerate(docs):
        new, stats = augment_document(doc, random.Random(k), 0.5, "both", syn)
        changed = check_augmented(doc, new, stats, syn, wn)
        total += len(changed)
        for i in changed:
            assert not nq_data.is_html_token(doc.tokens[i])
        for i, tok in enumerate(doc.tokens):
            if doc.is_html[i] or (tok.startswith("[") and tok.endswith("]")):
                assert new.tokens[i] == tok
        copies = augment_copies(doc, 2, 0.2, "document", 0, syn)
        assert len(copies) == (2 if has_long_answer(doc) else 0)
    assert total > 100


# --------------------------------------------------------------------------- wordnet_setup


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("NLTK_DATA", None)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          cwd=str(ROOT), timeout=300)


def test_wordnet_setup_check_reports_ok(syn):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "nq_baseline.wordnet_setup"], capture_output=True,
                          text=True, env=env, cwd=str(ROOT), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "OK" in proc.stdout


def test_lexnames_table():
    lines = wordnet.lexnames_text().splitlines()
    assert len(lines) == 45
    assert lines[0] == "00\tadj.all\t3" and lines[3] == "03\tnoun.Tops\t1" and lines[44] == "44\tadj.ppl\t3"
    assert lines[29] == "29\tverb.body\t2" and lines[28] == "28\tnoun.time\t1"


def _assert_names_both_remedies(text: str):
    assert "wordnet-base" in text and "wordnet-sense-index" in text
    assert "python -m nq_baseline.wordnet_setup --install" in text
    assert "nltk.download('wordnet')" in text


def test_missing_wordnet_error_names_both_remedies(tmp_path):
    empty = str(tmp_path / "empty_nltk_data")
    os.makedirs(empty)
    proc = _python(
        "import sys, nltk; nltk.data.path[:] = [sys.argv[1]]\n"
        "from nq_baseline.features.wordnet import load_wordnet, WordNetMissingError\n"
        "try:\n    load_wordnet()\nexcept WordNetMissingError as err:\n    print(err); sys.exit(3)\n",
        empty)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    _assert_names_both_remedies(proc.stdout)
    # the CLI in check mode: exit code 2 and the same remedies
    proc = _python("import sys, nltk; nltk.data.path[:] = []\n"
                   "from nq_baseline import wordnet_setup\n"
                   "sys.exit(wordnet_setup.main(['--nltk_data', sys.argv[1]]))\n", empty)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    _assert_names_both_remedies(proc.stderr)


def test_install_into_an_empty_data_dir(tmp_path):
    if wordnet.find_debian_dir() is None:
        pytest.skip("Debian wordnet-base / wordnet-sense-index are not installed")
    target = str(tmp_path / "nltk_data")
    code = ("import sys, nltk; nltk.data.path[:] = []\n"
            "from nq_baseline import wordnet_setup\n"
            "sys.exit(wordnet_setup.main(['--install', '--nltk_data', sys.argv[1]]))\n")
    proc = _python(code, target)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"from {target}/corpora/wordnet: car -> car.n.01, noun.artifact" in proc.stdout
    wn_dir = os.path.join(target, "corpora", "wordnet")
    assert not any(os.path.islink(os.path.join(wn_dir, f)) for f in os.listdir(wn_dir))
    assert any(f.startswith("nq_baseline_synonyms-") for f in os.listdir(wn_dir))  # the table, built once
    # a second run is idempotent: the verification stamp short-cuts the load
    proc = _python(code, target)
    assert proc.returncode == 0 and "verified earlier" in proc.stdout, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- end to end through prepare


def test_prepare_with_augmented_copies_end_to_end(syn, nq_vocab, tmp_path):
    """prepare(augment_copies=1) on the real examples: augmented records carry fresh unique ids,
    the original records are all still there, and the stats count the augmentation."""
    import json

    from nq_baseline.features import windows as F
    from nq_baseline.features import records as R
    from nq_baseline.features.prepare import PrepareConfig, augmented_example_id, prepare

    pattern = str(real_input(tmp_path, copies=1, annotated_only=True))  # training needs annotations
    docs = list(nq_data.read_documents(pattern))
    with_long = {d.example_id for d in docs if has_long_answer(d)}
    assert with_long, "the real examples should include some with a long answer"

    def run(copies: int, name: str):
        cfg = PrepareConfig(vocab_file=str(nq_vocab), features=F.FeatureConfig(include_unknowns=1.0),
                            is_training=True, augment_copies=copies, augment_rate=0.2, augment_seed=3)
        out = tmp_path / f"{name}.tfrecord"
        stats = prepare(pattern, str(out), cfg)
        on_disk = json.loads((tmp_path / f"{name}.tfrecord.stats.json").read_text())
        assert on_disk["augmented_examples"] == stats["augmented_examples"]
        assert on_disk["replaced_words"] == stats["replaced_words"]
        return on_disk, [R.parse_record(r) for r in R.read_records(str(out))]

    base_stats, base = run(0, "plain")
    aug_stats, aug = run(1, "aug")
    assert base_stats["augmented_examples"] == 0 and base_stats["replaced_words"] == 0
    assert aug_stats["augmented_examples"] == len(with_long) > 0
    assert aug_stats["replaced_words"] > 0 and aug_stats["augmented_instances"] > 0
    assert aug_stats["num_examples"] == base_stats["num_examples"] == len(docs)
    assert aug_stats["num_instances"] == len(aug) == len(base) + aug_stats["augmented_instances"]

    base_ids = {int(r["unique_ids"][0]) for r in base}
    aug_ids = [int(r["unique_ids"][0]) for r in aug]
    assert len(set(aug_ids)) == len(aug_ids), "unique ids stay unique"
    assert base_ids <= set(aug_ids), "the original records are all still there"
    new = [r for r in aug if int(r["unique_ids"][0]) not in base_ids]
    assert len(new) == aug_stats["augmented_instances"]
    for r in new:  # the copies keep the example id; only their unique ids are new
        eid, span = int(r["example_ids"][0]), int(r["doc_span_index"][0])
        assert eid in with_long
        assert int(r["unique_ids"][0]) == F.unique_id(augmented_example_id(eid, 1), span)
        assert int(r["unique_ids"][0]) != F.unique_id(eid, span)
    # the augmented copies' windows differ from the originals' somewhere (words were replaced)
    by_key = {(int(r["example_ids"][0]), int(r["doc_span_index"][0])): r["input_ids"].tolist() for r in base}
    assert any(by_key.get((int(r["example_ids"][0]), int(r["doc_span_index"][0]))) != r["input_ids"].tolist()
               for r in new)
