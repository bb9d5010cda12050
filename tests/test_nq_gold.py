"""nq_baseline.evaluation.gold: reading gold files (formats, gzip, globs, threads, bad input) and the gold cache."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import threading

import orjson
import pytest

from conftest import NQ_REAL, NULL, gold_example, small_gold, span, write_gold
from nq_baseline.evaluation import gold as nq_gold
from nq_baseline.evaluation.gold import GoldDataError

DEV_FULL = NQ_REAL / "nq-dev-full-1.jsonl.gz"
SIMPLIFIED = NQ_REAL / "nq-simplified-4.jsonl.gz"


def test_fast_annotation_extraction_equals_full_parse():
    for path in (DEV_FULL, SIMPLIFIED):
        for raw in gzip.open(path):
            raw = raw.rstrip(b"\n")
            obj = orjson.loads(raw)
            fast = nq_gold._fast_extract(raw)
            if "annotations" in obj:
                assert fast == (int(obj["example_id"]), obj["annotations"])
    # "annotations" and "example_id" as string values must not be taken for keys.
    tricky = {"document_tokens": [{"token": "annotations"}, {"token": "example_id"}],
              "annotations": [{"long_answer": NULL, "short_answers": [], "yes_no_answer": "NONE"}],
              "question_text": "\"annotations\": [1]", "example_id": 7, "z": ["example_id"]}
    assert nq_gold._fast_extract(orjson.dumps(tricky)) == (7, tricky["annotations"])
    assert nq_gold._fast_extract(json.dumps(tricky, indent=1).replace("\n", " ").encode()) == (
        7, tricky["annotations"])


# --------------------------------------------------------------------------- gold input

def test_gold_plain_glob_comma_and_threads(tmp_path):
    small_gold(tmp_path, "a.jsonl.gz", eids=(1, 2))
    small_gold(tmp_path, "b.jsonl", gz=False, eids=(3,))
    small_gold(tmp_path, "c.jsonl.gz", eids=(4, 5))
    assert sorted(nq_gold.load_gold(str(tmp_path / "*.jsonl*"), num_threads=3).examples) == [1, 2, 3, 4, 5]
    comma = f"{tmp_path / 'a.jsonl.gz'},{tmp_path / 'b.jsonl'}"
    assert sorted(nq_gold.load_gold(comma, num_threads=1).examples) == [1, 2, 3]
    # A multi-member gzip file (concatenated streams) reads as one.
    (tmp_path / "m.gz").write_bytes((tmp_path / "a.jsonl.gz").read_bytes() + (tmp_path / "c.jsonl.gz").read_bytes())
    assert sorted(nq_gold.load_gold(str(tmp_path / "m.gz")).examples) == [1, 2, 4, 5]


def test_small_blocks_and_prefetch_thread_read_the_same(tmp_path, monkeypatch):
    """Lines straddling inflated blocks, gzip members split across reads, the prefetch thread."""
    files = [small_gold(tmp_path, "a.jsonl.gz", eids=range(1, 40)), small_gold(tmp_path, "b.jsonl", False)]
    (tmp_path / "m.gz").write_bytes(files[0].read_bytes() + gzip.compress(b"\n\n") + b"\0" * 5)
    files.append(tmp_path / "m.gz")
    files += [DEV_FULL, SIMPLIFIED]
    expected = [nq_gold.load_gold(str(f)).examples for f in files]
    blob = gzip.compress(b"".join(orjson.dumps(gold_example(i, [(NULL, [], "NONE")])) + b"\n" for i in range(300)))
    (tmp_path / "trunc.gz").write_bytes(blob[:-30])
    for chunk in (5, 64, 4096):
        monkeypatch.setattr(nq_gold, "_READ_CHUNK", chunk)
        assert [nq_gold.load_gold(str(f)).examples for f in files] == expected, chunk
        with pytest.raises(GoldDataError, match="truncated gzip"):
            nq_gold.load_gold(str(tmp_path / "trunc.gz"))
    # A bad line stops the reader early: the error names it and the prefetch thread ends.
    lines = [orjson.dumps(gold_example(i, [(NULL, [], "NONE")])) for i in range(60)]
    lines[29] = b'{"example_id": 30, "annotations": [}'
    (tmp_path / "bad.gz").write_bytes(gzip.compress(b"\n".join(lines)))
    before = threading.active_count()
    with pytest.raises(GoldDataError, match=r"bad.gz:30: not valid JSON"):
        nq_gold.load_gold(str(tmp_path / "bad.gz"))
    assert threading.active_count() == before


def test_bad_gold_names_file_and_line(tmp_path):
    good = orjson.dumps(gold_example(1, [(NULL, [], "NONE")]))
    (tmp_path / "notjson.jsonl").write_bytes(good + b"\n\n" + b"{not json}\n")
    with pytest.raises(GoldDataError, match=r"notjson.jsonl:3: not valid JSON"):
        nq_gold.load_gold(str(tmp_path / "notjson.jsonl"))
    (tmp_path / "cut.jsonl").write_bytes(good + b"\n" + good[: len(good) // 2] + b"\n")
    with pytest.raises(GoldDataError, match=r"cut.jsonl:2: not valid JSON"):
        nq_gold.load_gold(str(tmp_path / "cut.jsonl"))
    blob = gzip.compress(b"".join(orjson.dumps(gold_example(i, [(NULL, [], "NONE")])) + b"\n" for i in range(50)))
    (tmp_path / "trunc.jsonl.gz").write_bytes(blob[: len(blob) - 30])
    with pytest.raises(GoldDataError, match=r"trunc.jsonl.gz:\d+: unreadable input \(truncated gzip"):
        nq_gold.load_gold(str(tmp_path / "trunc.jsonl.gz"))
    bad_span = gold_example(9, [(span(5, 3, 1, 2), [], "NONE")])
    write_gold(tmp_path / "span.jsonl.gz", [gold_example(8, []), bad_span])
    with pytest.raises(GoldDataError, match=r"span.jsonl.gz:2: example 9: annotations\[0\].long_answer: empty byte"):
        nq_gold.load_gold(str(tmp_path / "span.jsonl.gz"))
    write_gold(tmp_path / "dup.jsonl.gz", [gold_example(8, []), gold_example(8, [])])
    with pytest.raises(GoldDataError, match="dup.jsonl.gz:2: duplicate example_id 8"):
        nq_gold.load_gold(str(tmp_path / "dup.jsonl.gz"))
    with pytest.raises(GoldDataError, match="no such file"):
        nq_gold.load_gold(str(tmp_path / "nothing-*.gz"))
    assert issubclass(GoldDataError, ValueError)


# --------------------------------------------------------------------------- cache

def test_gold_cache_round_trip(tmp_path, monkeypatch):
    gold_path = small_gold(tmp_path, "dev-0.jsonl.gz")
    fresh = nq_gold.load_gold(str(gold_path), cache_gold_data=True)
    assert fresh.from_cache is None
    cached = [p for p in os.listdir(tmp_path) if p.startswith(".nq_eval_cache-")]
    assert len(cached) == 1 and not any(".tmp" in p for p in os.listdir(tmp_path))
    again = nq_gold.load_gold(str(gold_path), cache_gold_data=True)
    assert again.from_cache == str(tmp_path / cached[0]) and again.examples == fresh.examples
    # The hidden cache file stays out of globs over the gold directory.
    assert sorted(nq_gold.load_gold(str(tmp_path / "*")).examples) == [1, 2, 3]
    # A changed gold file invalidates it.
    small_gold(tmp_path, "dev-0.jsonl.gz", eids=(1, 2, 3, 4))
    changed = nq_gold.load_gold(str(gold_path), cache_gold_data=True)
    assert changed.from_cache is None and len(changed) == 4
    assert nq_gold.load_gold(str(gold_path), cache_gold_data=True).from_cache
    # A corrupt cache is ignored and rewritten.
    (tmp_path / cached[0]).write_bytes(b"{garbage")
    assert nq_gold.load_gold(str(gold_path), cache_gold_data=True).from_cache is None
    assert len(nq_gold.load_gold(str(gold_path), cache_gold_data=True)) == 4
    # An explicit cache_dir; a read-only gold directory falls back to the user cache.
    assert nq_gold.load_gold(str(gold_path), cache_gold_data=True, cache_dir=tmp_path / "c").from_cache is None
    assert nq_gold.load_gold(str(gold_path), cache_gold_data=True, cache_dir=tmp_path / "c").from_cache
    monkeypatch.setattr(nq_gold, "_cache_candidates",
                        lambda paths, d, real=nq_gold._cache_candidates: ["/proc/nope/x.json"] + real(paths, tmp_path / "u"))
    assert nq_gold.load_gold(str(gold_path), cache_gold_data=True).from_cache is None
    assert str(tmp_path / "u") in nq_gold.load_gold(str(gold_path), cache_gold_data=True).from_cache


def test_cache_on_real_read_only_data(tmp_path, monkeypatch):
    """Real gold in a folder marked read-only (as CI lays shared data): the cache goes to the
    user's cache folder, nothing is written beside the gold, even for root."""
    import shutil

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "read-only"
    folder.mkdir()
    gold = folder / DEV_FULL.name
    shutil.copyfile(DEV_FULL, gold)
    folder.chmod(0o555)
    try:
        first = nq_gold.load_gold(str(gold), cache_gold_data=True)
        second = nq_gold.load_gold(str(gold), cache_gold_data=True)
        assert sorted(p.name for p in folder.iterdir()) == [DEV_FULL.name]
    finally:
        folder.chmod(0o755)
    assert first.examples == second.examples and first.examples
    assert second.from_cache.startswith(str(tmp_path / "cache"))


def test_cache_misses_gold_rewritten_at_equal_size_and_mtime(tmp_path):
    """The issue's case: gold rewritten at the same size with its mtime restored must not
    give the old metrics (a size + mtime key reported long F1 1.0 here, 0.0 being true)."""
    from conftest import prediction, write_preds
    from nq_baseline.evaluation import scorer as nq_eval

    gold_path = tmp_path / "dev.jsonl"
    right = [gold_example(e, [(span(0, 5, 10, 12), [], "NONE")] * 2) for e in (1, 2)]
    write_gold(gold_path, right, gz=False)
    preds = write_preds(tmp_path / "p.json", [prediction(e, span(0, 5, 10, 12)) for e in (1, 2)])
    cache = tmp_path / "cache"
    assert nq_eval.evaluate(str(gold_path), str(preds), cache_gold_data=True, cache_dir=cache)[
        "long-best-threshold-f1"] == 1.0
    before = os.stat(gold_path)
    moved = [gold_example(e, [(span(2, 7, 70, 72), [], "NONE")] * 2) for e in (1, 2)]  # same digit counts
    write_gold(gold_path, moved, gz=False)
    os.utime(gold_path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(gold_path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    report = nq_gold.load_gold(str(gold_path), cache_gold_data=True, cache_dir=cache)
    assert report.from_cache is None
    assert nq_eval.evaluate(report, str(preds))["long-best-threshold-f1"] == 0.0
    # The key is the SHA-256 of the bytes as stored (hashlib, not ours, says what it is).
    (cache_file,) = cache.iterdir()
    key = orjson.loads(cache_file.read_bytes())["key"]
    assert key[1] == [str(gold_path.resolve()), hashlib.sha256(gold_path.read_bytes()).hexdigest()]
    assert nq_gold.load_gold(str(gold_path), cache_gold_data=True, cache_dir=cache).from_cache == str(cache_file)


def test_cache_of_gzip_gold_is_keyed_on_the_compressed_bytes(tmp_path):
    gold_path = small_gold(tmp_path, "dev.jsonl.gz")
    nq_gold.load_gold(str(gold_path), cache_gold_data=True, cache_dir=tmp_path / "c")
    (cache_file,) = (tmp_path / "c").iterdir()
    assert orjson.loads(cache_file.read_bytes())["key"][1][1] == hashlib.sha256(gold_path.read_bytes()).hexdigest()
    # Same annotations, other compressed bytes: a miss, then a hit.
    gold_path.write_bytes(gzip.compress(gzip.decompress(gold_path.read_bytes()), compresslevel=9, mtime=1))
    assert nq_gold.load_gold(str(gold_path), cache_gold_data=True, cache_dir=tmp_path / "c").from_cache is None
    assert nq_gold.load_gold(str(gold_path), cache_gold_data=True, cache_dir=tmp_path / "c").from_cache


@pytest.mark.parametrize("eid, fast", [(2**63, True), (-2**63 - 1, True), (2**64, True), ("18446744073709551616", True),
                                       (2**64, False), (-2**63 - 1, False)])
def test_gold_ids_outside_int64_are_refused(tmp_path, eid, fast):
    first = gold_example(2**63 - 1, [(NULL, [], "NONE")])  # the extremes of int64 are fine
    bad = gold_example(eid, [(NULL, [], "NONE")])
    if not fast:  # no annotations key: the scanner gives up, the line is decoded in full
        del bad["annotations"]
    lines = orjson.dumps(first) + b"\n" + orjson.dumps(gold_example(-2**63, [])) + b"\n"
    bad_line = json.dumps(bad).encode()  # orjson cannot write integers beyond 64 bits
    (tmp_path / "ids.jsonl").write_bytes(lines + bad_line + b"\n")
    assert (nq_gold._fast_extract(bad_line) is not None) == fast
    outside = r"example_id \S+ (\(an integer beyond 64 bits\) )?is outside the signed 64-bit range"
    with pytest.raises(GoldDataError, match=r"ids.jsonl:3: " + outside):
        nq_gold.load_gold(str(tmp_path / "ids.jsonl"))
    with pytest.raises(GoldDataError, match=r"outside the signed 64-bit range"):
        nq_gold.gold_from_json({eid: []})


def test_gold_path_that_is_a_directory(tmp_path):
    with pytest.raises(GoldDataError, match=r"is a directory"):
        nq_gold.load_gold(str(tmp_path))
