"""tokenization: WordPiece as BERT's tokenizer, NQ markers looked up whole."""

import pytest

from conftest import NQ_REAL
from nq_baseline.reading import nq_data
from nq_baseline.features.tokenization import SPECIAL_TOKEN_RE, NqTokenizer, load_vocab, missing_nq_tokens, nq_tokens


def test_tokenizer_matches_transformers_bert_tokenizer_on_real_text(nq_vocab):
    from transformers import BertTokenizer

    ref = BertTokenizer(vocab=str(nq_vocab), do_lower_case=True)  # vocab_file= maps all to [UNK] in 5.x
    ours = NqTokenizer(str(nq_vocab))
    words = []
    for doc in nq_data.read_documents(str(NQ_REAL / "*.jsonl.gz")):
        words += [t for t, h in zip(doc.tokens, doc.is_html) if not h][:1500]
        words += doc.question_text.split(" ")
    words = [w.replace(" ", "") for w in words if w.strip() and not SPECIAL_TOKEN_RE.match(w)]
    got = ours.word_ids(words)
    expected = {w: ref.convert_tokens_to_ids(ref.tokenize(w)) for w in set(words)}  # the reference, once a word
    mismatches = [w for w, ids in zip(words, got) if list(ids) != expected[w]]
    assert len(words) > 5000
    assert mismatches == []
    unk = sum(ids.count(ours.unk_id) for ids in got)
    assert unk / len(words) < 0.01, "real text must not come out as [UNK]"


@pytest.mark.parametrize("lower_case", [True, False])
def test_every_kind_of_new_word_matches_transformers_bert_tokenizer(nq_vocab, lower_case):
    """Words of ASCII letters and digits (whole in the vocabulary or not, any case, up to and
    past the 100-character limit), of other scripts and with punctuation, each new to the
    tokenizer's cache, then again from it."""
    from transformers import BertTokenizer

    ref = BertTokenizer(vocab=str(nq_vocab), do_lower_case=lower_case)
    words = ["the", "The", "THE", "wikipedia", "Wikipedia", "1990", "123456789012", "x7", "unaffable",
             "Tesla", "antidisestablishmentarianism", "Antidisestablishmentarianism", "QWERTYZ9", "a" * 100, "a" * 101, "ab" * 60, "Zürich", "naïve",
             "ÅNGSTRÖM", "東京", "don't", "U.S.", "13,000", "e-mail", "(1990)", "--", "\u00e9t\u00e9"]
    expected = [ref.convert_tokens_to_ids(ref.tokenize(w)) for w in words]
    ours = NqTokenizer(str(nq_vocab), do_lower_case=lower_case)
    assert [list(ids) for ids in ours.word_ids(words)] == expected
    assert [list(ids) for ids in ours.word_ids(words[::-1])] == expected[::-1]  # from the cache
    assert len(expected[words.index("a" * 101)]) == 1  # past the limit: one [UNK]


def test_markers_are_looked_up_whole(nq_vocab):
    tok = NqTokenizer(str(nq_vocab))
    ids = tok.tokenize_text("[ContextId=3] [Paragraph=2] [Other=1] hello")
    assert tok.convert_ids_to_tokens(ids) == ["[ContextId=3]", "[Paragraph=2]", "[UNK]", "hello"]



def test_nq_tokens_are_missing_from_a_plain_bert_vocab(bert_vocab, nq_vocab):
    """prepare refuses a vocabulary without them (it used to write [UNK] markers)."""
    assert len(nq_tokens()) == 209
    assert missing_nq_tokens(load_vocab(str(bert_vocab))) == nq_tokens()
    assert missing_nq_tokens(load_vocab(str(nq_vocab))) == []
