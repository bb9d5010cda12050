"""Text -> words, tokenized as Natural Questions' documents are (a Penn-Treebank-style tokenizer,
measured on the real examples: see `nq_words`)."""

from __future__ import annotations

import unicodedata

import regex


# Prefixes that keep a hyphenated word whole (NQ: `non-profit`, `mid-summer`, `e-mail`,
# `mid-2016`, `Anti-Spam` whole; `Pay - per - click`, `cost - effective`, `2 - 4` split).
_PREFIXES = ("anti|auto|bi|bio|co|counter|cross|cyber|de|e|eco|ex|extra|hyper|inter|intra|macro|mega|"
             "micro|mid|mini|multi|neo|non|over|pan|para|post|pre|pro|proto|pseudo|quasi|re|semi|"
             "self|sub|super|trans|tri|ultra|un|under|uni|vice|x")
# Abbreviations that keep their period wherever they stand (`Inc.,`  `Inc. p.`); any word
# keeps it before a digit or a letter with no space between (`Geology. 208`, `j.margeo`,
# `(1909).Advanced` -> `).`), and gives it up before a space and a letter (`Springer. p.`).
_ABBREVIATIONS = ("Inc|Ltd|Corp|Co|Bros|Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|vs|etc|al|Gen|Lt|Col|Capt|Sgt|Rev|"
                  "Gov|Sen|Rep|Mt|Ft|Jan|Feb|Aug|Sep|Sept|Oct|Nov|Dec|approx|ca|cf|pp|vol|Vol")
_W = r"[\p{L}\p{N}\p{M}]"  # a word character (letters with their combining marks, digits)

_WORD_RE = regex.compile(
    r"(?P<url>(?:https?|ftp)://[^\s\"<>]*[^\s\"<>.,;:!?)\]'])"
    r"|(?P<initials>(?<!\p{L})(?:\p{Lu}\.[ ])+\p{Lu}\.)"  # U. S. -> U.S. (NQ joins them)
    r"|(?<!" + _W + r")(?:\p{L}\.){2,}(?!\p{L})"  # U.S.  i.e.
    r"|\p{L}" + _W + r"*(?:\." + r"\p{L}" + _W + r"*){2,}"  # usinfo.state.gov
    r"|(?<!" + _W + r")\p{N}+(?:,\p{N}{3})+(?:\.\p{N}+)?(?!\p{N})"  # 13,000  1,000.5
    r"|(?<!" + _W + r")\p{N}+\.\p{N}+(?:\.(?=\p{N}))?"  # 10.1016  2.2. (NQ: 2.2.1 -> 2.2. 1)
    r"|(?i:can)(?=not(?!\p{L}))|(?i:not)(?<=(?i:cannot))"  # cannot -> can not
    r"|\p{L}+(?=(?i:n['\u2019]t)(?!\p{L}))|(?i:n['\u2019]t)(?!\p{L})"  # don't -> do n't
    r"|(?<=" + _W + r")['\u2019](?i:s|re|ve|ll|d|m)(?!" + _W + r")"  # world's -> world 's
    r"|(?<!" + _W + r")\p{L}['\u2019](?=\p{Lu})\p{L}+"  # O'Brien
    r"|(?<!" + _W + r")(?i:" + _PREFIXES + r")-" + _W + r"+"  # non-profit  mid-2016
    r"|(?<![A-Za-z])[A-Za-z]+&[A-Za-z]+(?![A-Za-z])"  # A&M  AT&T
    r"|(?<!" + _W + r")(?:\p{L}|" + _ABBREVIATIONS + r")\.(?!\p{L}\.)"  # G.  p.  Inc.
    r"|(?=\p{N}*\p{L})" + _W + r"+\.(?=\p{L}|\s*\p{N})"  # Geology. 208  j.margeo
    r"|\)\.(?=\p{L})"  # (1909).Advanced
    r"|" + _W + r"+(?:_" + _W + r"+)*"
    r"|(?P<ellipsis>\.{2,}|\u2026)"
    r"|(?P<dash>[\u2013\u2014])"
    r"|\S")

_BRACKETS = {"[": "(", "]": ")"}
_OPENERS = frozenset("([{<`\u201c\u2018")


def _is_gap(token: str) -> bool:
    """Invisible characters (controls, format characters such as a BOM) are no word."""
    return all(unicodedata.category(c) in ("Cc", "Cf", "Zs", "Zl", "Zp") for c in token)


def nq_words(text: str) -> list[tuple[str, int, int]]:
    """Text -> [(token, char_start, char_end)], tokenized as NQ's documents are.

    The token may differ from the text it spans: quotes become `` `` `` or `''`, brackets
    parentheses, dashes `--`, dots `...`, and initials split by a space (`U. S.`) join."""
    out: list[tuple[str, int, int]] = []
    for m in _WORD_RE.finditer(text):
        tok, s, e = m.group(), m.start(), m.end()
        kind = m.lastgroup
        if kind == "initials":
            tok = tok.replace(" ", "")
        elif kind == "ellipsis":
            tok = "..."
        elif kind == "dash":
            tok = "--"
        elif tok == '"' or tok == "\u201c" or tok == "\u201d":
            opening = tok == "\u201c" or (tok == '"' and (s == 0 or text[s - 1].isspace() or text[s - 1] in _OPENERS))
            tok = "``" if opening else "''"
        elif tok in _BRACKETS:
            tok = _BRACKETS[tok]
        elif len(tok) == 1 and _is_gap(tok):
            continue
        out.append((tok, s, e))
    return out
