#!/usr/bin/env python
"""The spread of answer quality over seeds: several `quality.py` runs, one a seed, in one JSON line.

    python benchmarks/quality.py --squad dev-v1.1.json --output_dir q0 --random_seed 0
    python benchmarks/quality.py --squad dev-v1.1.json --output_dir q1 --random_seed 1
    python benchmarks/quality_seeds.py q0/quality.json q1/quality.json

Each run makes its own choices on its development split (span length, BM25 weight, variant), so
the spread is that of the whole recipe, choices included. For each scored split it gives the
median, min and max over the runs of: the headline (each run's chosen variant), the reader
alone (each run's best variant without BM25 on development, by quality.py's own rule), the IDF
floor, and the headline's and the reader's long F1 and top-1 paragraph minus the floor's.

The runs must differ in their seed alone: the same SQuAD file (by SHA-256), the same settings
and the same precision otherwise; anything else is refused (exit 2, naming the file and the field).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality import SCORED_SPLITS, choose_variant  # noqa: E402
from rounds import spread  # noqa: E402

METRICS = ("long-best-threshold-f1", "short-best-threshold-f1", "long-top1-paragraph", "long-answerable-f1",
           "long-null-rejection")
GAPS = ("long-best-threshold-f1", "long-top1-paragraph")  # what the targets compare with the floor


def refuse(message):
    print(f"quality_seeds: {message}", file=sys.stderr)
    sys.exit(2)


def load_run(path: str) -> dict:
    """One quality.json, refused when it cannot be read or lacks what a summary needs."""
    try:
        with open(path, encoding="utf-8") as handle:
            run = json.load(handle)
    except (OSError, ValueError) as err:
        refuse(f"{path}: not a readable quality.json ({err})")
    for field in ("headline", "settings", "squad", *SCORED_SPLITS):
        if field not in run:
            refuse(f"{path}: no {field!r} field (written by quality.py --skip_test, or not by quality.py)")
    return run


def check_like_for_like(paths: list[str], runs: list[dict]) -> None:
    """Every run has the first one's SQuAD file and settings, and a seed of its own."""
    first, seeds = runs[0], {}
    for path, run in zip(paths, runs):
        if run["squad"]["sha256"] != first["squad"]["sha256"]:
            refuse(f"{path}: squad.sha256 differs from {paths[0]}'s: another SQuAD file")
        for key in sorted(set(first["settings"]) | set(run["settings"])):
            if key != "random_seed" and run["settings"].get(key) != first["settings"].get(key):
                refuse(f"{path}: settings.{key} is {run['settings'].get(key)!r}, {paths[0]} has "
                       f"{first['settings'].get(key)!r}: runs must differ in their seed alone")
        if run.get("predict_precision") != first.get("predict_precision"):
            refuse(f"{path}: predict_precision is {run.get('predict_precision')!r}, {paths[0]} has "
                   f"{first.get('predict_precision')!r} (--precision auto chose differently on another CPU)")
        seed = run["settings"]["random_seed"]
        if seed in seeds:
            refuse(f"{path}: settings.random_seed {seed} is {seeds[seed]}'s too: one run a seed")
        seeds[seed] = path


def over_runs(values) -> dict:
    """{"median", "min", "max", "runs"} of one figure over the runs."""
    summary = spread(values, 4)
    summary["runs"] = summary.pop("rounds")
    return summary


def reader_alone(run: dict) -> str:
    """The run's best variant without BM25 on its development split (quality.py's rule)."""
    rows = {name: row for name, row in run["development"]["variants"].items() if "lexical" not in name}
    return choose_variant({"variants": rows})


def split_summary(runs: list[dict], split: str) -> dict:
    rows = {"headline": [run[split]["variants"][run["headline"]["variant"]] for run in runs],
            "reader_alone": [run[split]["variants"][reader_alone(run)] for run in runs],
            "idf_floor": [run[split]["idf_floor"] for run in runs]}
    summary = {name: {m: over_runs(row[m] for row in values) for m in METRICS if m in values[0]}
               for name, values in rows.items()}
    for name in ("headline", "reader_alone"):
        summary[f"{name}_minus_idf_floor"] = {
            m: over_runs(row[m] - floor[m] for row, floor in zip(rows[name], rows["idf_floor"])) for m in GAPS}
    return summary


def summarise(paths: list[str]) -> dict:
    runs = [load_run(p) for p in paths]
    check_like_for_like(paths, runs)
    return {"runs": len(runs),
            "choices": [{"file": p, "random_seed": r["settings"]["random_seed"], "variant": r["headline"]["variant"],
                         "reader_alone": reader_alone(r), "max_answer_length": r.get("max_answer_length"),
                         "lexical_weight": r.get("lexical_weight"), "training_seconds": r.get("training", {}).get("seconds")}
                        for p, r in zip(paths, runs)],
            **{split: split_summary(runs, split) for split in SCORED_SPLITS},
            "settings": {k: v for k, v in runs[0]["settings"].items() if k != "random_seed"},
            "squad_sha256": runs[0]["squad"]["sha256"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="quality.json files of runs that differ in --random_seed alone")
    args = parser.parse_args(argv)
    if len(args.runs) < 2:
        refuse("give at least two quality.json files: a spread needs two runs")
    print(json.dumps(summarise(args.runs)))


if __name__ == "__main__":
    main()
