#!/usr/bin/env python
"""Writes deterministic synthetic Natural Questions data, both formats, plus a vocab.txt.

Fictional towns (one document each; train and dev use disjoint names), a few templated fact
paragraphs, a table and a list; one templated question per document whose answer is a fact
paragraph (or a table row, a nested candidate), a yes/no question, or an attribute the document
does not state (null).  The signal is lexical and regular, so a tiny BERT trained from scratch
on CPU learns it in minutes (`make demo`).  `--large` makes benchmark-sized documents
(~8k tokens, 30-60 top-level candidates, Wikipedia-like bulky HTML, ~600 KB of JSON each).

  python tools/make_sample_nq.py --output_dir=data/sample [--num_train=1200] [--num_dev=200]
      [--seed=0] [--large]

Writes train-full.jsonl.gz, train-simplified.jsonl.gz, dev-full.jsonl.gz,
dev-simplified.jsonl.gz (same example ids in both formats) and vocab.txt (BERT layout).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import gzip
import os
import random
import string
import sys
import zlib
from typing import IO, Iterable, Optional

import orjson
from tokenizers import normalizers, pre_tokenizers

from nq_baseline.reading import nq_writer
from nq_baseline.common.fileio import atomic_output, atomic_write
from nq_baseline.common.cli import fail
from nq_baseline.reading.nq_writer import GoldAnswer

SHARE_NULL = 0.30
SHARE_YES_NO = 0.08
SHARE_TABLE = 0.10
DEV_ANNOTATORS = 5
FILES = ("train-full.jsonl.gz", "train-simplified.jsonl.gz", "dev-full.jsonl.gz",
         "dev-simplified.jsonl.gz")

# ----------------------------------------------------------------------------- names

_SYLLABLES = ("zor", "van", "mel", "iko", "kel", "dia", "bren", "tal", "osk", "ri", "ven", "dor", "ka",
              "lum", "sa", "thi", "mor", "gan", "el", "pyr", "ras", "quin", "ba", "ne", "fy", "lo", "ter",
              "wyn", "hal", "dru", "cae", "nis", "ul", "ira", "vel", "mar", "ko", "tes", "jor", "ak",
              "ny", "zu", "bel", "tor", "ash", "im", "rek", "sol")


def _name(rng: random.Random, lo: int = 2, hi: int = 3) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(lo, hi))).capitalize()


def entity_split(name: str) -> str:
    """Which split a town name belongs to: a fixed hash rule, so train and dev never share one."""
    return "dev" if zlib.crc32(name.lower().encode()) % 6 == 0 else "train"


def _person(rng: random.Random) -> list[str]:
    return [_name(rng, 2, 2), _name(rng, 2, 3)]


def _make_pools() -> dict[str, tuple[str, ...]]:
    """Closed, seed-independent name lists for the answer values (rivers, founders, mayors...).

    Values come from a list per attribute, so a value's own word says which attribute it answers,
    and each value word recurs across many training documents: a small BERT learns that, where it
    only memorizes a name seen once.  Town names stay unique per document (and out of these lists).
    """
    rng = random.Random("nq-sample-pools")
    taken: set[str] = set()
    pools = {}
    for key, size, lo, hi in (("river", 40, 2, 2), ("festival", 40, 2, 2), ("province", 40, 2, 3),
                              ("language", 30, 2, 2), ("founder_first", 30, 2, 2), ("founder_last", 30, 2, 3),
                              ("mayor_first", 30, 2, 2), ("mayor_last", 30, 2, 3)):
        names: list[str] = []
        while len(names) < size:
            name = _name(rng, lo, hi) + ("ish" if key == "language" else "")
            if name.lower() not in taken:
                taken.add(name.lower())
                names.append(name)
        pools[key] = tuple(names)
    return pools


POOLS = _make_pools()
_POOL_WORDS = {w.lower() for names in POOLS.values() for w in names}


def _pooled(key: str):
    return lambda rng: [rng.choice(POOLS[key])]


def _pooled_person(prefix: str):
    return lambda rng: [rng.choice(POOLS[prefix + "_first"]), rng.choice(POOLS[prefix + "_last"])]


# ----------------------------------------------------------------------------- attributes

_THINGS = ("copper mines", "wool markets", "glass bells", "apple orchards", "stone bridges", "salt springs",
           "clock towers", "silver lace", "honey cakes", "painted boats", "horse fairs", "marble quarries")
_CLIMATES = ("mild", "cold", "dry", "humid", "temperate", "windy", "rainy", "warm")


def _year(rng):
    return [str(rng.randrange(1100, 1950))]


def _number(rng):
    n = rng.randrange(800, 250000)
    return [f"{n:,}"]


def _small(rng):
    return [str(rng.randrange(4, 900))]


# name -> value(rng), paragraph templates, question templates, table label (None: never in a table),
# value prefix / suffix (tokens around the value that belong to the short answer).
# Every paragraph template puts the attribute's keyword (the word its questions share) exactly two
# words before the value ("founded in 1734", "population of 12,400", "mayor is Ilsa Varn"), with
# the town name never in between: the regular, lexical cue a tiny BERT learns from scratch.
ATTRIBUTES = {
    "founded": dict(value=_year, label="Founded", paras=(
        "{E} was founded in {V} .", "Records show that the town of {E} was founded in {V} by settlers .",
        "According to the old chronicles {E} was founded in {V} ."), questions=(
        "when was {e} founded", "in what year was {e} founded", "what year was {e} founded in")),
    "founder": dict(value=_pooled_person("founder"), label="Founder", paras=(
        "{E} remembers its founder , {V} , every spring .", "A statue in {E} shows the founder , {V} .",
        "The people of {E} still honour the founder , {V} ."), questions=(
        "who was the founder of {e}", "who is the founder of {e}", "name the founder of {e}")),
    "population": dict(value=_number, suffix=("inhabitants",), label="Population", paras=(
        "{E} has a population of {V} .", "At the last census {E} had a population of {V} .",
        "Today {E} counts a population of {V} ."), questions=(
        "what is the population of {e}", "what population does {e} have", "what is the population of {e} today")),
    "river": dict(value=_pooled("river"), label=None, paras=(
        "The town of {E} lies on the river named {V} .", "A river named {V} flows through {E} .",
        "Boats on the river named {V} pass through {E} ."), questions=(
        "which river flows through {e}", "what river runs through {e}", "what is the name of the river in {e}")),
    "known_for": dict(value=lambda r: r.choice(_THINGS).split(), label=None, paras=(
        "{E} is known for {V} .", "Travellers say that {E} is known for {V} .",
        "Since the old days {E} has been known for {V} ."),
        questions=("what is {e} known for", "what is {e} best known for", "what is {e} mostly known for")),
    "climate": dict(value=lambda r: [r.choice(_CLIMATES)], label=None, paras=(
        "In {E} the climate is {V} .", "Visitors find that in {E} the climate is {V} most of the year .",
        "All year round in {E} the climate is {V} ."), questions=(
        "what is the climate of {e}", "what kind of climate does {e} have", "what is the climate like in {e}")),
    "mayor": dict(value=_pooled_person("mayor"), label="Mayor", paras=(
        "In {E} the current mayor is {V} .", "The town council of {E} says the mayor is {V} .",
        "Everyone in {E} knows the mayor is {V} ."), questions=(
        "who is the mayor of {e}", "who is the current mayor of {e}", "who serves as mayor of {e}")),
    "area": dict(value=_small, suffix=("square", "kilometres"), label="Area", paras=(
        "{E} covers an area of {V} .", "Including nearby farms {E} has an area of {V} .",
        "The town of {E} spreads over an area of {V} ."), questions=(
        "what is the area of {e}", "how large is the area of {e}", "how big is {e} in area")),
    "elevation": dict(value=_small, suffix=("metres",), label="Elevation", paras=(
        "{E} lies at an elevation of {V} .", "The old town of {E} sits at an elevation of {V} .",
        "The main square of {E} is at an elevation of {V} ."), questions=(
        "what is the elevation of {e}", "at what elevation is {e}", "how high is the elevation of {e}")),
    "province": dict(value=_pooled("province"), label="Province", paras=(
        "{E} is part of the province of {V} .", "{E} belongs to the province of {V} .",
        "{E} is the second town of the province of {V} ."), questions=(
        "in which province is {e}", "what province is {e} in", "which province does {e} belong to")),
    "festival": dict(value=_pooled("festival"), label=None, paras=(
        "Every spring {E} hosts the festival of {V} .", "The festival of {V} is held in {E} each autumn .",
        "Thousands visit {E} for the festival of {V} ."), questions=(
        "what festival is held in {e}", "which festival takes place in {e}", "what is the main festival of {e}")),
    "language": dict(value=_pooled("language"), label="Language", paras=(
        "In {E} the main language is {V} .", "Most residents of {E} speak a language called {V} .",
        "In every school of {E} children learn the language called {V} ."), questions=(
        "what language is spoken in {e}", "which language do residents of {e} speak",
        "what is the main language of {e}")),
}
TABLE_ATTRIBUTES = tuple(k for k, v in ATTRIBUTES.items() if v["label"])

_FILLER = ("It is one of the oldest settlements in the region .", "The town is popular with visitors in summer .",
           "Many old houses still stand near the main square .", "Local historians have written much about this .",
           "This is mentioned in several old chronicles .", "Most families there have lived in the town for generations .")
_DIRECTIONS = ("north", "south", "east", "west", "centre")
_PLACES = ("old mill", "town hall", "stone church", "market square", "city museum", "north gate", "botanic garden",
           "harbour tower", "public library", "railway station", "clock tower", "castle ruins")


def _value(attr: str, rng: random.Random) -> list[str]:
    spec = ATTRIBUTES[attr]
    return list(spec.get("prefix", ())) + spec["value"](rng) + list(spec.get("suffix", ()))


def _fill(template: str, entity: str, value: list[str], rng: random.Random) -> tuple[list[str], tuple[int, int]]:
    """Template -> words and the (start, end) word span of the value."""
    words: list[str] = []
    span = (0, 0)
    for part in template.split():
        if part == "{E}":
            words.append(entity)
        elif part == "{V}":
            span = (len(words), len(words) + len(value))
            words.extend(value)
        elif part == "{Y}":
            words.extend(_year(rng))
        else:
            words.append(part)
    return words, span


# ----------------------------------------------------------------------------- large-mode filler

_NOUNS = ("market", "harbour", "bridge", "chapel", "granary", "school", "road", "wall", "tower", "garden",
          "library", "station", "hall", "castle", "farm", "guild", "workshop", "canal", "orchard", "theatre",
          "warehouse", "fountain", "barracks", "abbey", "quay", "tannery", "brewery", "forge", "inn", "mint")
_VERBS = ("rebuilt", "extended", "damaged", "restored", "expanded", "repaired", "described", "painted",
          "visited", "opened", "closed", "sold", "moved", "renamed", "enlarged", "surveyed")
_ADJS = ("old", "new", "eastern", "western", "small", "large", "wooden", "royal", "ancient", "busy", "quiet",
         "famous", "northern", "southern", "narrow", "broad")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_SECTIONS = ("History", "Geography", "Economy", "Culture", "Transport", "Education", "Sport", "Architecture",
             "Demographics", "Government", "Religion", "Media", "Twin towns", "Notable people", "See also")


def _filler_sentence(rng: random.Random, entity: str) -> list[str]:
    form = rng.randrange(4)
    n1, n2, v, a = rng.choice(_NOUNS), rng.choice(_NOUNS), rng.choice(_VERBS), rng.choice(_ADJS)
    if form == 0:
        s = f"In {_year(rng)[0]} the {n1} of {entity} was {v} by the {a} {n2} ."
    elif form == 1:
        s = f"The {a} {n1} near the {n2} was {v} in {_year(rng)[0]} , and again in {_year(rng)[0]} ."
    elif form == 2:
        s = f"{' '.join(_person(rng))} {v} the {n1} , which later became part of the {a} {n2} ."
    else:
        s = f"During the {rng.choice(_ADJS)} years the {n1} and the {n2} were {v} several times ."
    return s.split()


def _filler_paragraph(rng: random.Random, entity: str, n_words: int) -> list[str]:
    words: list[str] = []
    while len(words) < n_words:
        words += _filler_sentence(rng, entity)
    return words


def _filler_table(rng: random.Random, entity: str, n_tokens: int) -> list:
    kind = rng.randrange(3)
    if kind == 0:
        rows: list = [[("th", "Month"), ("th", "High"), ("th", "Low"), ("th", "Rain")]]
        while sum(18 for _ in rows) < n_tokens:
            rows.append([rng.choice(_MONTHS), str(rng.randrange(-5, 35)), str(rng.randrange(-15, 20)),
                         str(rng.randrange(0, 200))])
    elif kind == 1:
        rows = [[("th", "Year"), ("th", "Inhabitants"), ("th", "Change")]]
        while sum(14 for _ in rows) < n_tokens:
            rows.append([_year(rng)[0], f"{rng.randrange(500, 90000):,}", f"{rng.randrange(-20, 40)} %"])
    else:
        rows = [[("th", "District"), ("th", "Seat"), ("th", "Notes")]]
        while sum(20 for _ in rows) < n_tokens:
            rows.append([_name(rng), _name(rng), f"the {rng.choice(_ADJS)} {rng.choice(_NOUNS)} quarter"])
    return rows


def _filler_list(rng: random.Random, n_tokens: int) -> list:
    items: list = []
    while sum(len(i) + 2 for i in items) < n_tokens:
        items.append(_person(rng) + ["(", "born", _year(rng)[0], ")", ",", rng.choice(_ADJS),
                                     rng.choice(_NOUNS), "keeper"])
    return items


# ----------------------------------------------------------------------------- examples


def _example_id(rng: random.Random) -> int:
    value = rng.getrandbits(63) or 1
    return -value if rng.random() < 0.1 else value


def _pick_entity(rng: random.Random, split: str, used: set) -> str:
    want = "dev" if split == "dev" else "train"
    while True:
        name = _name(rng, 2, 3)
        if entity_split(name) == want and name not in used and name.lower() not in _POOL_WORDS:
            used.add(name)
            return name


def _question_kind(rng: random.Random) -> str:
    r = rng.random()
    if r < SHARE_NULL:
        return "null"
    if r < SHARE_NULL + SHARE_YES_NO:
        return "yesno"
    if r < SHARE_NULL + SHARE_YES_NO + SHARE_TABLE:
        return "table"
    return "para"


def _annotations(rng: random.Random, answer: Optional[GoldAnswer], split: str,
                 enclosing: Optional[GoldAnswer] = None) -> list[Optional[GoldAnswer]]:
    """Train: the one annotation.  Dev: 5, of which 3-5 agree on the answer and the rest are null;
    for a table-row answer one or two of those agreeing mark the enclosing table instead (as
    real annotators do), so a system that predicts only top-level candidates can match too."""
    if split != "dev":
        return [answer]
    if answer is None:
        return [None] * DEV_ANNOTATORS
    agree = rng.choice((3, 4, 5))
    anns: list[Optional[GoldAnswer]] = [answer] * agree + [None] * (DEV_ANNOTATORS - agree)
    if enclosing is not None:
        for k in range(1 if agree == 3 else rng.randint(1, 2)):
            anns[k] = enclosing
    rng.shuffle(anns)
    return anns


def make_example(index: int, seed: int = 0, split: str = "train", large: bool = False,
                 used: Optional[set] = None) -> tuple[dict, dict]:
    """Example number `index` of a split -> (original dict, simplified dict).

    `used` (town names already taken in this split) keeps one document per town; pass the
    same set for every example of a split, in index order.
    """
    rng = random.Random(f"nq-sample:{seed}:{split}:{index}:{int(large)}")
    used = set() if used is None else used
    example_id = _example_id(rng)
    entity = _pick_entity(rng, split, used)
    country = _name(rng, 2, 3)
    kind = _question_kind(rng)

    table_attrs = rng.sample(TABLE_ATTRIBUTES, rng.randint(2, 4))
    rest = [a for a in ATTRIBUTES if a not in table_attrs]
    para_attrs = rng.sample(rest, rng.randint(4, 7))
    if kind == "yesno" and "known_for" not in para_attrs:
        if "known_for" in table_attrs:  # never: known_for has no table label
            raise AssertionError
        para_attrs[rng.randrange(len(para_attrs))] = "known_for"
    absent = [a for a in ATTRIBUTES if a not in para_attrs and a not in table_attrs]

    values = {a: _value(a, rng) for a in para_attrs + table_attrs}
    # The fact paragraphs, the table and the list, in random order after the intro.
    facts: list = []
    for attr in para_attrs:
        template = rng.choice(ATTRIBUTES[attr]["paras"])
        words, span = _fill(template, entity, values[attr], rng)
        if large:
            before = _filler_paragraph(rng, entity, rng.randint(10, 60))
            words, span = before + words + _filler_paragraph(rng, entity, rng.randint(10, 80)), \
                (span[0] + len(before), span[1] + len(before))
        elif rng.random() < 0.4:
            words = words + rng.choice(_FILLER).split()
        facts.append((attr, ("p", words), span))
    rows = [[ATTRIBUTES[a]["label"], values[a]] for a in table_attrs]
    facts.append(("<table>", ("table", rows), None))
    items = [["the"] + p.split() for p in rng.sample(_PLACES, rng.randint(2, 4))]
    facts.append(("<list>", ("ul", items), None))
    rng.shuffle(facts)

    intro = f"{entity} is a {rng.choice(('town', 'small town', 'market town'))} in the " \
            f"{rng.choice(_DIRECTIONS)} of {country} ."
    blocks: list = [("p", intro.split())]
    where: dict[str, tuple[int, Optional[tuple[int, int]]]] = {}
    if large:
        blocks = _large_blocks(rng, entity, blocks, facts, where)
    else:
        for attr, block, span in facts:
            where[attr] = (len(blocks), span)
            blocks.append(block)

    e = entity.lower()
    answer: Optional[GoldAnswer] = None
    enclosing: Optional[GoldAnswer] = None
    if kind == "null":
        q_attr = rng.choice(absent)
        if q_attr == "known_for" and rng.random() < 0.3:
            question = f"is {e} known for {rng.choice(_THINGS)}"
        else:
            question = rng.choice(ATTRIBUTES[q_attr]["questions"]).format(e=e)
    elif kind == "yesno":
        thing = " ".join(values["known_for"])
        yes = rng.random() < 0.5
        if not yes:
            thing = rng.choice([t for t in _THINGS if t != thing])
        question = f"is {e} {rng.choice(('known', 'best known', 'mostly known'))} for {thing}"
        answer = GoldAnswer(block=where["known_for"][0], yes_no="YES" if yes else "NO")
    elif kind == "table":
        q_attr = rng.choice(table_attrs)
        row = table_attrs.index(q_attr)
        question = rng.choice(ATTRIBUTES[q_attr]["questions"]).format(e=e)
        answer = GoldAnswer(block=where["<table>"][0], nested=row, span=(1, 1 + len(values[q_attr])))
        before = sum(1 + len(values[a]) for a in table_attrs[:row])  # words of the rows above
        enclosing = GoldAnswer(block=answer.block, span=(before + 1, before + 1 + len(values[q_attr])))
    else:
        q_attr = rng.choice(para_attrs)
        question = rng.choice(ATTRIBUTES[q_attr]["questions"]).format(e=e)
        answer = GoldAnswer(block=where[q_attr][0], span=where[q_attr][1])

    anns = _annotations(rng, answer, split, enclosing)
    return nq_writer.nq_examples(
        example_id, question, entity, blocks, anns,
        url=f"https://en.wikipedia.org//w/index.php?title={entity}&oldid={rng.randrange(10 ** 8, 10 ** 9)}",
        html_style="wiki" if large else "plain", head_bytes=20000 if large else 0,
        seed=rng.getrandbits(32))


def _large_blocks(rng: random.Random, entity: str, blocks: list, facts: list, where: dict) -> list:
    """Benchmark-sized document: the facts spread over sections of filler paragraphs, tables, lists."""
    target_tokens = rng.randint(7000, 8000)
    n_top = rng.randint(36, 54)
    n_filler = n_top - len(facts) - len(blocks)
    fact_tokens = sum(len(b[1]) + 2 if b[0] == "p" else 40 for _, b, _ in facts)
    budget = max(30, (target_tokens - fact_tokens - 3 * len(_SECTIONS)) // n_filler)
    items: list = [("fact", f) for f in facts]
    for _ in range(n_filler):
        size = int(budget * rng.uniform(0.6, 1.4))
        r = rng.random()
        if r < 0.6:
            items.append(("filler", ("p", _filler_paragraph(rng, entity, size - 2))))
        elif r < 0.8:
            items.append(("filler", ("table", _filler_table(rng, entity, size))))
        else:
            items.append(("filler", ("ul", _filler_list(rng, size))))
    rng.shuffle(items)
    out = list(blocks)
    per_section = max(1, len(items) // len(_SECTIONS) + 1)
    for k, (what, item) in enumerate(items):
        if k % per_section == 0:
            out.append(("h2", _SECTIONS[(k // per_section) % len(_SECTIONS)].split()))
        if what == "fact":
            attr, block, span = item
            where[attr] = (len(out), span)
            out.append(block)
        else:
            out.append(item)
    return out


def make_examples(num: int, seed: int = 0, split: str = "train", large: bool = False) -> list[tuple[dict, dict]]:
    """`num` examples of `split` ("train" or "dev") -> [(original dict, simplified dict)].

    Deterministic in (num, seed, split, large); the first k examples do not depend on num.
    Train examples carry 1 annotation, dev examples 5.
    """
    if num < 0:
        raise ValueError(f"num must be >= 0, got {num}")
    if split not in ("train", "dev"):
        raise ValueError(f"split must be 'train' or 'dev', got {split!r}")
    used: set = set()
    return [make_example(i, seed, split, large, used) for i in range(num)]


# ----------------------------------------------------------------------------- vocab and files

_PUNCT = string.punctuation  # the ASCII characters BERT's basic tokenizer splits off
_NORMALIZER = normalizers.BertNormalizer(lowercase=True)
_PRE_TOKENIZER = pre_tokenizers.BertPreTokenizer()


def basic_words(text: str) -> list[str]:
    """BERT's basic tokenization (BertNormalizer + BertPreTokenizer of `tokenizers`): lower
    case, split on whitespace and punctuation."""
    return [word for word, _ in _PRE_TOKENIZER.pre_tokenize_str(_NORMALIZER.normalize_str(text))]


def example_texts(original: dict) -> set[str]:
    """The question and the distinct document words of an example (original format)."""
    texts = {t["token"] for t in original["document_tokens"] if not t["html_token"]}
    texts.add(original["question_text"])
    return texts


def corpus_words(examples: Iterable[tuple[dict, dict]]) -> set[str]:
    """Every lowercase word (basic-tokenized) of the documents and questions."""
    texts: set[str] = set()
    for original, _ in examples:
        texts |= example_texts(original)
    return texts_words(texts)


def texts_words(texts: Iterable[str]) -> set[str]:
    """The basic-tokenized words of many texts: tokenized once, joined by spaces (a space
    only separates words, so this equals tokenizing each text)."""
    return set(basic_words(" ".join(sorted(texts))))


# Words written by the templates and word lists (everything but generated names and numbers).
_TEMPLATE_TEXT = " ".join([
    "In the of was by near and again , which later became part During years were several times",
    "Month High Low Rain Year Inhabitants Change District Seat Notes quarter % born keeper ( )",
    "is a town small market in known famous for its",
    *_FILLER, *_PLACES, *_POOL_WORDS, *_THINGS, *_CLIMATES, *_DIRECTIONS, *_NOUNS, *_VERBS, *_ADJS, *_MONTHS, *_SECTIONS,
    *(" ".join([*spec["paras"], *spec["questions"], spec["label"] or "", *spec.get("prefix", ()),
                *spec.get("suffix", ())]) for spec in ATTRIBUTES.values()),
])


def template_words() -> set[str]:
    """The lowercase words of the templates: the vocabulary's whole words."""
    return {w for w in basic_words(_TEMPLATE_TEXT.replace("{E}", " ").replace("{V}", " ").replace(
        "{Y}", " ").replace("{e}", " ")) if w.isalpha()}


def name_pieces() -> list[str]:
    """WordPieces for generated names: each syllable as a word start and as `##` continuation."""
    return sorted({s for s in _SYLLABLES} | {"##" + s for s in _SYLLABLES} | {"##ish"})


def vocab_lines(words: Iterable[str]) -> list[str]:
    """BERT-layout WordPiece vocab: [PAD], [unused0..98], [UNK] [CLS] [SEP] [MASK], [unused99..307],
    punctuation, digits, a-z, their ## forms, then the corpus's template words and the name
    syllable pieces, sorted.

    Generated names (towns, people, rivers...) and numbers are NOT whole tokens: they split into
    syllable / digit pieces shared by train and dev.  As whole tokens, each town name would be a
    token seen in one training example only, and a small BERT trained from scratch memorizes
    name -> answer position instead of learning the question -> paragraph match (dev F1 0.19).
    """
    head = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    head += [f"[unused{i}]" for i in range(99, 308)]
    chars = list(_PUNCT) + list(string.digits) + list(string.ascii_lowercase)
    lines = head + chars + ["##" + c for c in chars]
    seen = set(lines)
    keep = template_words()
    body = {w for w in words if w in keep} | set(name_pieces())
    lines += sorted(w for w in body if w not in seen)
    return lines


@contextlib.contextmanager
def _gzip_output(path: str) -> Iterable[IO[bytes]]:
    """`path` written atomically as gzip without a file name and with mtime 0 in the header,
    so reruns are byte-identical."""
    with atomic_output(path) as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                                   compresslevel=6) as packed:
        yield packed


def write_dataset(output_dir: str, num_train: int = 1200, num_dev: int = 200, seed: int = 0,
                  large: bool = False) -> dict:
    """Writes the four jsonl.gz files and vocab.txt (streaming, each atomically); returns counts."""
    os.makedirs(output_dir, exist_ok=True)
    for name in FILES + ("vocab.txt",):  # refused before any file is written
        if os.path.isdir(os.path.join(output_dir, name)):
            raise IsADirectoryError(errno.EISDIR, "is a directory", os.path.join(output_dir, name))
    texts: set[str] = set()
    stats = {}
    for split, num in (("train", num_train), ("dev", num_dev)):
        with _gzip_output(os.path.join(output_dir, f"{split}-full.jsonl.gz")) as full, \
                _gzip_output(os.path.join(output_dir, f"{split}-simplified.jsonl.gz")) as simple:
            used: set = set()
            counts = {"null": 0, "yes_no": 0, "nested": 0}
            for i in range(num):
                original, simplified = make_example(i, seed, split, large, used)
                texts |= example_texts(original)
                full.write(orjson.dumps(original) + b"\n")
                simple.write(orjson.dumps(simplified) + b"\n")
                ann = max(original["annotations"], key=lambda a: a["long_answer"]["candidate_index"])
                ci = ann["long_answer"]["candidate_index"]  # the most specific (a row, not its table)
                counts["null"] += ci < 0
                counts["yes_no"] += ann["yes_no_answer"] != "NONE"
                counts["nested"] += ci >= 0 and not original["long_answer_candidates"][ci]["top_level"]
        stats[split] = dict(examples=num, **counts)
    vocab = vocab_lines(texts_words(texts))
    atomic_write(os.path.join(output_dir, "vocab.txt"), "".join(t + "\n" for t in vocab))
    stats["vocab"] = len(vocab)
    return stats


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", required=True, help="where the files go (created if missing)")
    parser.add_argument("--num_train", type=_non_negative, default=1200, help="train examples (default 1200)")
    parser.add_argument("--num_dev", type=_non_negative, default=200, help="dev examples (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--large", action="store_true",
                        help="benchmark-sized documents (~8k tokens, 30-60 top-level candidates, bulky HTML)")
    args = parser.parse_args(argv)
    if os.path.exists(args.output_dir) and not os.path.isdir(args.output_dir):
        parser.error(f"--output_dir {args.output_dir} exists and is not a directory")
    try:
        stats = write_dataset(args.output_dir, args.num_train, args.num_dev, args.seed, args.large)
    except OSError as err:
        fail("make_sample_nq", f"--output_dir {args.output_dir}: cannot write {err.filename or 'it'} "
             f"({err.strerror or err})")
    for split in ("train", "dev"):
        s = stats[split]
        print(f"make_sample_nq: {split}: {s['examples']} examples ({s['null']} null, {s['yes_no']} yes/no, "
              f"{s['nested']} nested gold)")
    print(f"make_sample_nq: wrote {', '.join(FILES)} and vocab.txt ({stats['vocab']} tokens) to {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
