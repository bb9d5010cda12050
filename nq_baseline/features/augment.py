"""WordNet synonym augmentation of NQ documents that keeps every answer intact.

`augment_document` replaces document words (and, with scope "question"/"both", question
words) by WordNet synonyms, ONE TOKEN FOR ONE TOKEN: the token count never changes, so every
candidate, annotation and byte offset (and the token map built later) stays valid.

Which words may change ("eligible"), all of:
- an alphabetic token (`str.isalpha`, ASCII or Unicode letters), at least 3 letters, all
  lower-case, Capitalized, or ALL-CAPS of at least 5 letters (shorter ones are mostly
  acronyms: "DEC", "WHO"); mixed case like "iPhone" is left alone;
- not an HTML token (`is_html`), not a bracketed marker (`[Paragraph=1]`, `[Q]`, `[unused3]`:
  none is alphabetic anyway), not a stop word (`STOP_WORDS`, built in: nltk's stopwords
  corpus is not available offline), not a number word (`NUMBER_WORDS`: "six" -> "vi");
- outside EVERY gold short-answer span of every annotation;
- a Capitalized word only where a sentence starts (first token, after . ! ? : or a quote,
  or right after a <P>/<H1-6>/<Dd>/<Blockquote> tag) and not followed by another capitalized
  word, and never a month or day name: elsewhere a capital marks a name ("Hulk Hogan",
  "Bush", "March") that WordNet would read as common words;
- it has at least one synonym (below).
Each eligible word is replaced with probability `rate` (one rng draw per eligible word, a
second draw picks the synonym uniformly), so the observed rate over eligible words matches
the flag.  A word without a synonym is never replaced (no random vocabulary tokens).

Synonyms (`SynonymSource`), without a part-of-speech tagger (nltk's tagger data is not
available offline), from WordNet alone:
- BASE FORMS: WordNet lemmas are base forms, so a word is read either as a base form (a
  lower-case lemma itself: "car", "film"; capitalized-only lemmas, names like "Paris", do
  not count) or as an inflection of one (WordNet's morphology, exceptions included:
  "films" -> film, "said" -> say), whichever reading is more frequent in SemCor ("years"
  is year+s, not the lemma years = old age; "said" is say+ed, not the adjective "said").
  A regular +s inflection (noun plural, verb 3rd person: "films", "runs") gets synonyms
  with the same +s ("movies", "automobiles"); any other inflection ("played", "running",
  "cities") has no synonyms: swapping "played" for "play" would break the grammar.
- ONE PART OF SPEECH: the POS (of that reading) in which the sense-tagged frequency (SemCor
  counts, cntlist.rev) is largest -- a most-frequent-tag unigram tagger; without counts, the
  POS with most senses; ties: noun, verb, adjective, adverb.  Synonyms come from that POS only.
- FREQUENT SENSES: the senses of that POS the word was tagged with in SemCor at least a
  third as often as with its most frequent sense (`min_sense_share`), or the first sense
  where it was never tagged: "car" -> auto, automobile, machine, motorcar, not "gondola"
  or "railcar" (rare senses).
- a synonym is a single lower-case alphabetic lemma (no '_' / '-' multiword, no names or
  acronyms), not a stop word or number word, differing from the word case-insensitively
  and not merely an inflection of it (no base form in common by WordNet's morphology, any
  POS: "pushing" -> "push" is refused); order: sense order, then lemma order (deterministic).
Replacements keep the case pattern: ALL-CAPS -> upper, Capitalized -> capitalized, else lower.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import json
import os
import random
import re
from typing import Optional

from nq_baseline.common.fileio import atomic_output
from nq_baseline.reading.nq_data import NqDocument
from nq_baseline.features.wordnet import WordNetMissingError, load_wordnet  # noqa: F401 (re-exported)

SCOPES = ("document", "question", "both")
MARKER_RE = re.compile(r"^\[[^ ]*\]$")
MIN_WORD_LEN = 3
MIN_UPPER_LEN = 5  # shorter ALL-CAPS words are mostly acronyms ("DEC", "WHO", "NATO")
PARAGRAPH_TAG_RE = re.compile(r"^<(p|h[1-6]|dd|blockquote)( [^>]*)?>$", re.IGNORECASE)
SENTENCE_OPENERS = frozenset({".", "!", "?", ":", "``", "''", '"', "\u201c", "\u2018", "'"})
_POS_ORDER = ("n", "v", "a", "r")
#: Capitalized, these are names of months and days, not the common words ("March", "Sun").
CALENDAR_NAMES = frozenset(
    "january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday jan feb mar apr jun jul aug sep "
    "sept oct nov dec mon tue tues wed thu thur thurs fri sat sun".split())

#: English stop words (nltk's list plus a few frequent function words), lower case.
STOP_WORDS = frozenset("""
a about above after again against ain all also am an and any are aren arent as at be because been
before being below between both but by can cannot could couldn couldnt d did didn didnt do does
doesn doesnt doing don dont down during each either else ever every few for from further had hadn
hadnt has hasn hasnt have haven havent having he her here hers herself him himself his how however
i if in into is isn isnt it its itself just ll m ma may me might mightn mightnt more most must
mustn mustnt my myself needn neednt neither no nor not now o of off on once one only or other
ought our ours ourselves out over own re s same shall shan shant she should shouldn shouldnt so
some such t than that the their theirs them themselves then there these they this those though
through thus to too under until up upon us ve very was wasn wasnt we were weren werent what when
where whether which while who whom whose why will with within without won wont would wouldn
wouldnt y yet you your yours yourself yourselves
""".split())

#: Number words: their WordNet "synonyms" are roman numerals and the like ("six" -> "vi").
NUMBER_WORDS = frozenset("""
zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred
thousand million billion trillion dozen half first second third fourth fifth sixth seventh eighth
ninth tenth
""".split())
_NEVER = STOP_WORDS | NUMBER_WORDS


def has_long_answer(doc: NqDocument) -> bool:
    """True when some annotation marks a long answer."""
    return any(a.has_long_answer for a in doc.annotations)


def protected_mask(doc: NqDocument) -> bytearray:
    """1 for every token inside some gold short-answer span (of any annotation)."""
    mask = bytearray(len(doc.tokens))
    for ann in doc.annotations:
        for span in ann.short_answers:
            start, end = max(span.start_token, 0), min(span.end_token, len(mask))
            if end > start:
                mask[start:end] = b"\x01" * (end - start)
    return mask


def _case_kind(token: str) -> Optional[str]:
    """'lower', 'upper', 'title', or None for mixed case."""
    if token.islower():
        return "lower"
    if token.isupper():
        return "upper"
    if token[0].isupper() and token[1:].islower():
        return "title"
    return None


def apply_case(word: str, kind: str) -> str:
    return word.upper() if kind == "upper" else word.capitalize() if kind == "title" else word.lower()


def _plural(word: str) -> Optional[str]:
    """The regular +s form of a base form, None where English would not just add 's'."""
    if word[-1] in "sxzyo" or word.endswith(("ch", "sh")):
        return None
    return word + "s"


class SynonymSource:
    """WordNet synonyms for single words, with a POS rule and caches (see the module doc).

    Picklable (for worker processes): the caches and the reader are rebuilt after unpickling.
    """

    def __init__(self, wordnet=None, cache_size: int = 1 << 18, min_sense_share: float = 1 / 3,
                 use_table: bool = True):
        self._wn = wordnet if wordnet is not None else load_wordnet()
        self._cache_size = cache_size
        self._min_sense_share = min_sense_share
        self._counts: Optional[dict[str, int]] = None
        self._use_table = use_table
        self._setup_caches()

    def _setup_caches(self) -> None:
        cache = functools.lru_cache(maxsize=self._cache_size)
        self._base_forms = cache(self._compute_base_forms)
        self._senses = cache(self._compute_senses)
        self._pos_synonyms = cache(self._compute_pos_synonyms)
        self._analysis = cache(self._compute_analysis)
        self.surface = functools.lru_cache(maxsize=self._cache_size)(self._compute_surface)
        self._table: Optional[dict[str, tuple[str, ...]]] = (
            load_or_build_table(self) if self._use_table else None)

    def __getstate__(self):
        return {"cache_size": self._cache_size, "min_sense_share": self._min_sense_share,
                "use_table": self._use_table}

    def __setstate__(self, state):
        self._wn = load_wordnet()
        self._cache_size = state["cache_size"]
        self._min_sense_share = state["min_sense_share"]
        self._use_table = state.get("use_table", True)
        self._counts = None
        self._setup_caches()

    def build_table(self) -> dict[str, tuple[str, ...]]:
        """{word: synonyms} for every word that has any: WordNet's single-word lower-case lemma
        names and their regular +s forms (no other word can have synonyms by the rules above,
        see _compute_analysis), computed with the same analysis the lazy path uses."""
        names = {n for pos in _POS_ORDER for n in self._wn.all_lemma_names(pos) if n.isalpha() and n.islower()}
        words = names | {p for n in names if (p := _plural(n)) is not None}
        table = {}
        for word in sorted(words):
            synonyms = self._analysis(word)[1]
            if synonyms:
                table[word] = synonyms
        return table

    def _lookup_synonyms(self, lower: str) -> tuple[str, ...]:
        if self._table is not None:
            return self._table.get(lower, ())
        return self._analysis(lower)[1]

    # -- WordNet queries ---------------------------------------------------------------

    def _tag_count(self, lemma) -> int:
        """SemCor tag count of a lemma (cntlist.rev read once into a dict: fast)."""
        if self._counts is None:
            counts: dict[str, int] = {}
            with self._wn.open("cntlist.rev") as handle:
                for line in handle:
                    parts = line.split()
                    if len(parts) >= 3:
                        counts[parts[0]] = int(parts[-1])
            self._counts = counts
        return self._counts.get(lemma.key(), 0)

    def _morphy_all(self, word: str, pos: str) -> list[str]:
        try:
            return self._wn._morphy(word, pos)
        except AttributeError:  # a reader without the (private) _morphy: first form only
            base = self._wn.morphy(word, pos)
            return [base] if base else []

    def _compute_base_forms(self, word: str) -> frozenset[str]:
        """The word and every base form WordNet's morphology gives it, in any POS."""
        forms = {word}
        for pos in _POS_ORDER:
            forms.update(self._morphy_all(word, pos))
        return frozenset(forms)

    def _compute_senses(self, word: str, pos: str) -> tuple[tuple[object, int], ...]:
        """(synset, SemCor count) of the synsets of `pos` that have `word` itself as a lemma
        (exact, lower-case: a base form; "Paris" does not make "paris" one), sense order."""
        senses = []
        for synset in self._wn.synsets(word, pos):
            own = [lem for lem in synset.lemmas() if lem.name() == word]
            if own:
                senses.append((synset, sum(self._tag_count(lem) for lem in own)))
        return tuple(senses)

    def _compute_pos_synonyms(self, word: str, pos: str) -> tuple[str, ...]:
        """Synonyms of the base form `word` from its frequent senses in `pos`."""
        senses = self._senses(word, pos)
        if not senses:
            return ()
        top = max(c for _, c in senses)
        chosen = ([s for s, c in senses if c > 0 and c >= self._min_sense_share * top]
                  or [senses[0][0]])
        own_forms = self._base_forms(word)
        out: list[str] = []
        seen = {word}
        for synset in chosen:
            for lemma in synset.lemmas():
                name = lemma.name()
                if (name in seen or not name.isalpha() or not name.islower() or len(name) < 2
                        or name in _NEVER):
                    continue
                seen.add(name)
                if not own_forms.isdisjoint(self._base_forms(name)):
                    continue  # an inflection of the word ("pushing" -> "push"), not a synonym
                out.append(name)
        return tuple(out)

    def _compute_analysis(self, word: str) -> tuple[Optional[str], tuple[str, ...]]:
        """(POS, synonyms) of a lower-case word: the most frequent reading wins, the word
        as a base form or as an inflection of another base form (see the module doc)."""
        own = None  # ((count, nsenses, -order), pos)
        alt = None  # ((count, nsenses, -order), pos, base)
        for order, pos in enumerate(_POS_ORDER):
            senses = self._senses(word, pos)
            if senses:
                key = (sum(c for _, c in senses), len(senses), -order)
                if own is None or key > own[0]:
                    own = (key, pos)
            for base in self._morphy_all(word, pos):
                if base != word and (senses := self._senses(base, pos)):
                    key = (sum(c for _, c in senses), len(senses), -order)
                    if alt is None or key > alt[0]:
                        alt = (key, pos, base)
        if alt is not None and (own is None or alt[0][0] > own[0][0]):
            _, pos, base = alt
            if pos in ("n", "v") and _plural(base) == word:  # "films", "runs": add the same +s
                plural = (_plural(s) for s in self._pos_synonyms(base, pos))
                return pos, tuple(p for p in plural if p is not None and p != word)
            return pos, ()  # "played", "said", "cities": an inflection we cannot reproduce
        if own is not None:
            return own[1], self._pos_synonyms(word, own[1])
        return None, ()

    def synonyms(self, word: str) -> list[str]:
        """Single-word lower-case synonyms of `word` (any case in), in a deterministic order."""
        return list(self._lookup_synonyms(word.lower()))

    def pos_of(self, word: str) -> Optional[str]:
        """The part of speech of the reading chosen for `word` ('n', 'v', 'a', 'r'; None if
        WordNet does not know it); synonyms come from that POS only."""
        return self._analysis(word.lower())[0]

    def _compute_surface(self, token: str) -> tuple[str, ...]:
        """Cased synonyms for a document token; () where the token is not eligible."""
        if len(token) < MIN_WORD_LEN or not token.isalpha() or MARKER_RE.match(token):
            return ()
        kind = _case_kind(token)
        lower = token.lower()
        if (kind is None or lower in _NEVER or (kind == "upper" and len(token) < MIN_UPPER_LEN)
                or (kind != "lower" and lower in CALENDAR_NAMES)):
            return ()
        return tuple(apply_case(s, kind) for s in self._lookup_synonyms(lower))


TABLE_VERSION = 1  # bump when the synonym rules change: old table files are then ignored


def _table_file_name(source: SynonymSource) -> str:
    wordnet_dir = str(getattr(getattr(source._wn, "root", None), "path", "") or "")
    try:
        from nq_baseline.features.wordnet import signature
        signature = signature(wordnet_dir) if wordnet_dir else "unknown"
    except OSError:
        signature = wordnet_dir or "unknown"
    key = f"{TABLE_VERSION}|{source._min_sense_share!r}|{signature}"
    return f"nq_baseline_synonyms-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json.gz"


def _table_dirs(source: SynonymSource) -> list[str]:
    """Where a synonym table may live: $NQ_BASELINE_CACHE, beside the WordNet files, ~/.cache."""
    dirs = []
    if os.environ.get("NQ_BASELINE_CACHE"):
        dirs.append(os.environ["NQ_BASELINE_CACHE"])
    wordnet_dir = getattr(getattr(source._wn, "root", None), "path", None)
    if wordnet_dir and os.path.isdir(wordnet_dir):
        dirs.append(wordnet_dir)
    dirs.append(os.path.join(os.path.expanduser("~"), ".cache", "nq_baseline"))
    return dirs


def load_or_build_table(source: SynonymSource) -> Optional[dict[str, tuple[str, ...]]]:
    """The {word: synonyms} table of `source`: read from disk, else built (~15 s, once per
    WordNet install and settings) and saved atomically to the first writable table dir.
    A table makes a word's first lookup a dict access instead of WordNet queries."""
    name = _table_file_name(source)
    for directory in _table_dirs(source):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            try:
                with gzip.open(path, "rt", encoding="utf-8") as handle:
                    return {w: tuple(s) for w, s in json.load(handle).items()}
            except (OSError, ValueError, EOFError):
                pass  # unreadable or damaged: rebuild below
    table = source.build_table()
    for directory in _table_dirs(source):
        try:
            _write_table(os.path.join(directory, name), table)
            break
        except OSError:
            continue  # not writable: the next folder
    return table


def _write_table(path: str, table: dict) -> None:
    with atomic_output(path) as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed:
        packed.write(json.dumps(table, sort_keys=True).encode("utf-8"))


def _check_args(rate: float, scope: str) -> None:
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"synonym augmentation rate {rate} is not within [0, 1]")
    if scope not in SCOPES:
        raise ValueError(f"synonym augmentation scope {scope!r} is not one of {', '.join(SCOPES)}")


def _capital_ok(tokens: list[str], i: int, is_html) -> bool:
    """A Capitalized word counts only where a sentence starts and it is not followed by
    another capitalized word: elsewhere it most likely belongs to a name."""
    if i > 0:
        prev = tokens[i - 1]
        if not (prev in SENTENCE_OPENERS or (is_html is not None and is_html[i - 1]
                                             and PARAGRAPH_TAG_RE.match(prev))):
            return False
    if i + 1 < len(tokens):
        nxt = tokens[i + 1]
        if nxt[:1].isupper() and nxt.isalpha():
            return False
    return True


def _replace(tokens: list[str], is_html, protected, rng: random.Random, rate: float,
             lookup) -> tuple[int, int]:
    """Replaces eligible tokens in place (one rng draw per eligible token, one more to pick
    the synonym of a replaced one); returns (replaced, eligible)."""
    rand, randrange = rng.random, rng.randrange
    replaced = eligible = 0
    for i, tok in enumerate(tokens):
        syns = lookup(tok)  # () for a token that is not a word with synonyms (cached)
        if not syns or (is_html is not None and is_html[i]) or (protected is not None and protected[i]):
            continue
        if tok[0].isupper() and not tok.isupper() and not _capital_ok(tokens, i, is_html):
            continue
        eligible += 1
        if rand() < rate:
            tokens[i] = syns[randrange(len(syns))]
            replaced += 1
    return replaced, eligible


def augment_document(doc: NqDocument, rng: random.Random, rate: float, scope: str = "document",
                     synonyms: Optional[SynonymSource] = None) -> tuple[NqDocument, dict]:
    """A NEW NqDocument with eligible words replaced by synonyms with probability `rate`.

    scope: "document" (document tokens), "question" (question words only) or "both".
    Tokens are replaced one for one (new `tokens` list; candidates, annotations, offsets are
    shared with `doc`, unchanged).  Deterministic given the rng state.
    Returns (document, stats) with stats {"replaced_words", "eligible_words" (document),
    "question_replaced", "question_eligible"}.
    """
    _check_args(rate, scope)
    if synonyms is None:
        synonyms = default_synonym_source()
    stats = {"replaced_words": 0, "eligible_words": 0, "question_replaced": 0, "question_eligible": 0}
    tokens = list(doc.tokens)
    question = doc.question_text
    if scope in ("document", "both"):
        stats["replaced_words"], stats["eligible_words"] = _replace(
            tokens, doc.is_html, protected_mask(doc), rng, rate, synonyms.surface)
    if scope in ("question", "both"):
        words = question.split(" ")
        stats["question_replaced"], stats["question_eligible"] = _replace(
            words, None, None, rng, rate, synonyms.surface)
        question = " ".join(words)
    return dataclasses.replace(doc, tokens=tokens, question_text=question), stats


def copy_rng(seed: int, example_id: int, copy_index: int) -> random.Random:
    """The rng of one augmented copy: a function of (seed, example id, copy index) only,
    so the output does not depend on processing order or the number of workers."""
    digest = hashlib.sha256(f"nq-synonym-augment|{seed}|{example_id}|{copy_index}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def augment_copies(doc: NqDocument, copies: int, rate: float, scope: str = "document", seed: int = 0,
                   synonyms: Optional[SynonymSource] = None, require_long_answer: bool = True
                   ) -> list[tuple[NqDocument, dict]]:
    """`copies` augmented copies of `doc` (copy k seeded from (seed, doc.example_id, k)).

    Returns [] when copies <= 0 or, with require_long_answer (the default), when the
    document has no long answer.  The copies keep doc.example_id: giving them unique ids
    is up to the caller.  A copy may have 0 replacements (see stats["replaced_words"]).
    """
    _check_args(rate, scope)
    if copies <= 0 or (require_long_answer and not has_long_answer(doc)):
        return []
    if synonyms is None:
        synonyms = default_synonym_source()
    return [augment_document(doc, copy_rng(seed, doc.example_id, k), rate, scope, synonyms)
            for k in range(copies)]


_DEFAULT: Optional[SynonymSource] = None


def default_synonym_source() -> SynonymSource:
    """One shared SynonymSource per process (WordNet loads once, ~3 s)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = SynonymSource()
    return _DEFAULT
