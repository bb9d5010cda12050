r"""nq_eval: Natural Questions metrics of a predictions file, as the official scorer computes them.

    python -m nq_baseline.nq_eval --gold_path='nq-dev-0?.jsonl.gz' \
        --predictions_path=predictions.json [--pretty_print] [--cache_gold_data]

Prints the metrics JSON (or, with --pretty_print, the R@P tables); `--output_path` writes the
metrics JSON, `--plot_path` the PR curves (both atomically, together, never over an input). A
bad flag, gold file or prediction is one line naming it, exit status 2, nothing written. The
scoring is `nq_baseline.evaluation.scorer`.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Optional

from nq_baseline.common import cli, fileio, inputs
from nq_baseline.evaluation.scorer import DEFAULT_THREADS, NqEvalError, evaluate_report, format_tables, render_pr_plot

# --------------------------------------------------------------------------- command line

PROGRAM = "nq_eval"


def _define_flags() -> None:
    """Defines the flags once, at run time: importing this module defines none, so it can
    share a process with the official scorer (which owns some of these names)."""
    from absl import flags

    def define(kind, name, default, help_text):
        if name not in flags.FLAGS:
            getattr(flags, f"DEFINE_{kind}")(name, default, help_text)

    define("string", "gold_path", None, "Gold NQ JSON lines (.jsonl or .jsonl.gz, original or simplified "
           "format): a path, a glob (e.g. 'nq-dev-0?.jsonl.gz') or a comma-separated list.")
    define("string", "predictions_path", None, "Predictions JSON: {\"predictions\": [...]}.")
    define("bool", "cache_gold_data", False, "Keep the decoded gold annotations in a small cache file "
           "(next to the gold files, else --cache_dir or ~/.cache/nq_baseline), keyed on the gold files' "
           "content, to speed up later runs.")
    define("string", "cache_dir", None, "Directory for the gold cache (default: beside the gold files).")
    define("integer", "num_threads", DEFAULT_THREADS, "Threads reading several gold files at once (>= 1).")
    define("bool", "pretty_print", False, "Print the R@P tables instead of the metrics JSON.")
    define("string", "output_path", None, "Also write the metrics JSON to this file.")
    define("string", "plot_path", None, "Write precision-recall curves (PNG) to this file (needs matplotlib).")
    define("integer", "long_non_null_threshold", 2, "Annotators with a non-null long answer needed for the "
           "gold to have a long answer (>= 1; 2 for 5-way dev data, 1 for single annotations).")
    define("integer", "short_non_null_threshold", 2, "Annotators with a non-null short answer or yes/no "
           "needed for the gold to have a short answer (>= 1).")


_parse_flags = cli.absl_flags_parser(PROGRAM)  # a bad flag: one line, exit status 2 (absl exits 1)


def _flag_problem(f) -> Optional[str]:
    """The first flag whose value cannot work, as an error message, or None."""
    for name in ("gold_path", "predictions_path"):
        if not f[name].value:
            return f"--{name} is required"
    for name in ("num_threads", "long_non_null_threshold", "short_non_null_threshold"):
        if f[name].value < 1:
            return f"--{name}={f[name].value}: must be at least 1"
    return None


def _write_outputs(outputs: dict[str, tuple[str, bytes]]) -> None:
    """Writes every {flag: (path, data)} atomically, together: each is complete under a
    temporary name before any is renamed, so a failure to write one leaves none."""
    with contextlib.ExitStack() as stack:
        for flag, (path, data) in outputs.items():
            try:
                handle = stack.enter_context(fileio.atomic_output(path))
                handle.write(data)
            except OSError as err:
                reason = err.strerror or str(err)
                if isinstance(err, (FileExistsError, NotADirectoryError)):
                    reason = "a part of its folder path is a file"
                raise NqEvalError(f"--{flag}={path}", None, f"cannot write ({reason})") from None


def main(argv) -> int:
    from absl import flags

    f = flags.FLAGS
    if len(argv) > 1:
        cli.fail(PROGRAM, f"unexpected arguments: {' '.join(argv[1:])}")
    problem = _flag_problem(f)
    if problem:
        cli.fail(PROGRAM, problem)
    try:
        report = evaluate_report(f.gold_path, f.predictions_path, f.long_non_null_threshold,
                                 f.short_non_null_threshold, cache_gold_data=f.cache_gold_data,
                                 cache_dir=f.cache_dir, num_threads=f.num_threads)
        outputs_as_files = {flag: path for flag, path in (("--output_path", f.output_path), ("--plot_path", f.plot_path))
                            if path and not os.path.isdir(path)}  # a folder fails as an output below
        fileio.refuse_outputs_over_inputs(outputs_as_files,
                                          {"--gold_path": inputs.expand_paths(f.gold_path),
                                           "--predictions_path": f.predictions_path})
        outputs = {}
        if f.output_path:
            outputs["output_path"] = (f.output_path, (json.dumps(report.metrics, indent=2) + "\n").encode())
        if f.plot_path:
            outputs["plot_path"] = (f.plot_path, render_pr_plot(report))
        _write_outputs(outputs)
    except (ValueError, OSError) as err:  # NqEvalError, an output over an input
        cli.fail(PROGRAM, str(err))
    if f.pretty_print:
        print(format_tables(report))
    else:
        print(json.dumps(report.metrics))
    return 0


def run() -> None:
    """Console script entry point (`nq_eval`)."""
    _define_flags()
    fileio.install_signal_cleanup(PROGRAM)
    cli.run_program(PROGRAM, main, _parse_flags)


if __name__ == "__main__":
    run()
