"""WordPiece tokenization for bert_joint features, through the `tokenizers` Rust library.

bert_joint tokenizes the document one whitespace-separated word at a time with BERT's
`FullTokenizer`; a word that looks like a bracketed marker (`[ContextId=3]`, `[Q]`) is
looked up whole in the vocabulary (or becomes `[UNK]`).  `tokenizers`' BertNormalizer +
BertPreTokenizer + WordPiece reproduce FullTokenizer; on top of it this module caches the
word -> ids mapping, since a document repeats most of its words, and sends unseen words to
the Rust encoder in one batch. The encoder's normaliser and splitter cost more than its
WordPiece, and change nothing in a word of ASCII letters and digits but its case: such a word
(most of a page's new words) is lower-cased here and, when the vocabulary holds it, is its own
single piece (WordPiece's longest match); else it goes to a bare WordPiece encoder.
"""

from __future__ import annotations

import itertools
import operator
import re
import struct
from typing import Iterable, Sequence

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

SPECIAL_TOKEN_RE = re.compile(r"^\[[^ ]*\]$")
MAX_INPUT_CHARS_PER_WORD = 100  # FullTokenizer's: a longer word is [UNK]
_ONE_ID = struct.Struct("=q").pack  # one int64 piece id as the cache holds it (native order, as numpy reads it)


def nq_tokens() -> list[str]:
    """bert_joint's 209 NQ marker tokens, in the order they take the places of [unused99]..
    [unused307] in its vocab-nq.txt (tools/make_nq_vocab.py writes them there)."""
    tokens = ["[Q]", "[YES]", "[NO]", "[NoLongAnswer]", "[NoShortAnswer]"]
    for kind in ("Paragraph", "Table", "List"):
        tokens += [f"[{kind}={i}]" for i in range(1, 51)]
    tokens += [f"[ContextId={i}]" for i in range(-1, 51)]
    tokens += ["[SA]", "[/SA]"]
    return tokens


def missing_nq_tokens(vocab: dict[str, int]) -> list[str]:
    """The NQ tokens a vocabulary lacks (a plain BERT vocab.txt lacks all of them)."""
    return [t for t in nq_tokens() if t not in vocab]


def load_vocab(vocab_file: str) -> dict[str, int]:
    """vocab.txt (one token a line) -> {token: id}; clear error for an unreadable file."""
    vocab: dict[str, int] = {}
    try:
        with open(vocab_file, encoding="utf-8") as handle:
            for index, line in enumerate(handle):
                token = line.rstrip("\n").rstrip("\r")
                if token and token not in vocab:
                    vocab[token] = index
    except OSError as err:
        raise ValueError(f"{vocab_file}: cannot read the vocabulary ({err.strerror})") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{vocab_file}: the vocabulary is not UTF-8 ({err})") from None
    for needed in ("[UNK]", "[CLS]", "[SEP]"):
        if needed not in vocab:
            raise ValueError(f"{vocab_file}: the vocabulary lacks {needed}")
    return vocab


class NqTokenizer:
    """bert_joint's `tokenize()` semantics over a fast WordPiece, with a per-word cache."""

    def __init__(self, vocab_file: str, do_lower_case: bool = True, cache_size: int = 500_000):
        self.vocab = load_vocab(vocab_file)
        self.inv_vocab = {i: t for t, i in self.vocab.items()}
        self.unk_id = self.vocab["[UNK]"]
        self.cls_id = self.vocab["[CLS]"]
        self.sep_id = self.vocab["[SEP]"]
        self.do_lower_case = do_lower_case
        tok = Tokenizer(self._wordpiece())
        tok.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=do_lower_case)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        self._tok = tok
        # the same WordPiece with no normaliser or splitter, for words of ASCII letters and digits
        self._bare = Tokenizer(self._wordpiece())
        # word -> its piece ids as int64 bytes: a document's pieces are one join of these
        self._cache: dict[str, bytes] = {}
        self._cache_size = cache_size

    def _wordpiece(self) -> models.WordPiece:
        return models.WordPiece(vocab=self.vocab, unk_token="[UNK]", max_input_chars_per_word=MAX_INPUT_CHARS_PER_WORD)

    def _encode_words(self, words: list[str], cache: dict) -> None:
        """Fills `cache` for `words` (one Rust batch call)."""
        encodings = self._tok.encode_batch(words, add_special_tokens=False)
        for word, enc in zip(words, encodings):
            cache[word] = np.asarray(enc.ids, np.int64).tobytes()

    def word_pieces(self, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(piece ids of the whitespace-free words end to end, int64; the number of pieces of
        each word), bracketed markers looked up whole."""
        cache = self._cache
        blobs = list(map(cache.get, words))  # one C pass; None where a word is new
        if None in blobs:
            cache = self._fill(words, blobs)
            blobs = list(map(cache.__getitem__, words))
        counts = np.fromiter(map(len, blobs), np.int64, len(blobs))
        return np.frombuffer(b"".join(blobs), np.int64), counts // 8

    def word_ids(self, words: Sequence[str]) -> list[tuple[int, ...]]:
        """The piece ids of each word (word_pieces, split by word)."""
        ids, counts = self.word_pieces(words)
        flat, ends = ids.tolist(), np.cumsum(counts).tolist()
        return [tuple(flat[b:e]) for b, e in zip([0] + ends[:-1], ends)]

    def _fill(self, words: Sequence[str], blobs: list) -> dict:
        """Encodes the words whose blob is None into the cache (a new one when it is full)."""
        cache = self._cache
        missing = set(itertools.compress(words, map(operator.is_, blobs, itertools.repeat(None))))
        if len(cache) + len(missing) > self._cache_size:  # bound the memory: start over
            # a new dict, not clear(): another thread may be reading the old one (the service)
            cache = self._cache = {}
            missing = set(words)
        specials = [w for w in missing if SPECIAL_TOKEN_RE.match(w)]
        for word in specials:
            cache[word] = _ONE_ID(self.vocab.get(word, self.unk_id))
        plain = missing.difference(specials)
        simple = [w for w in plain if w.isascii() and w.isalnum()]
        pieced = self._whole_words(simple, cache)
        if pieced:
            self._encode_simple_words(pieced, cache)
        other = plain.difference(simple)
        if other:
            self._encode_words(sorted(other), cache)
        return cache

    def _whole_words(self, words: list[str], cache: dict) -> list[tuple[str, str]]:
        """Caches the words of ASCII letters and digits that are one piece each (at most
        MAX_INPUT_CHARS_PER_WORD long, in the vocabulary in their normalised form: WordPiece's
        longest match is the whole word); returns the others with their normalised forms."""
        vocab, rest = self.vocab, []
        for word in words:
            form = word.lower() if self.do_lower_case else word  # all the normaliser would change
            piece = vocab.get(form) if len(word) <= MAX_INPUT_CHARS_PER_WORD else None
            if piece is None:
                rest.append((word, form))
            else:
                cache[word] = _ONE_ID(piece)
        return rest

    def _encode_simple_words(self, pieced: list[tuple[str, str]], cache: dict) -> None:
        """Fills `cache` for (word, normalised form) pairs of ASCII letters and digits: the forms
        through the bare WordPiece in one call, each word's pieces found by the word index of each."""
        encoding = self._bare.encode([form for _, form in pieced], is_pretokenized=True, add_special_tokens=False)
        blob = np.asarray(encoding.ids, np.int64).tobytes()
        counts = np.bincount(np.asarray(encoding.word_ids, np.int64), minlength=len(pieced))
        ends = np.cumsum(counts) * 8
        for (word, _), start, end in zip(pieced, (ends - counts * 8).tolist(), ends.tolist()):
            cache[word] = blob[start:end]

    def tokenize_text(self, text: str) -> list[int]:
        """bert_joint's tokenize(): split on single spaces, markers whole, others word-pieced."""
        return self.word_pieces(text.split(" "))[0].tolist()

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        return [self.inv_vocab.get(int(i), "[UNK]") for i in ids]

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        return [self.vocab.get(t, self.unk_id) for t in tokens]
