"""wordnet_setup: sets up WordNet 3.0 for NLTK offline (used by the synonym augmentation).

    python -m nq_baseline.wordnet_setup              # check and report (exit 0 OK, 2 missing)
    python -m nq_baseline.wordnet_setup --install    # set it up where missing
    python -m nq_baseline.wordnet_setup --install --nltk_data /some/dir

`--install` is idempotent: when WordNet already loads it only says so. How and where: see
`nq_baseline.features.wordnet`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

from nq_baseline.features.wordnet import (EXIT_MISSING, REMEDY, WordNetMissingError, check_and_build_in_subprocess,
                                          nltk_search_path, wordnet_dir_complete, apt_install, build_synonym_table,
                                          copy_wordnet, default_nltk_data_dir, fast_check, find_debian_dir,
                                          load_wordnet, write_stamp)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--install", action="store_true",
                        help="set WordNet up where it is missing (apt-get as root, copy, lexnames)")
    parser.add_argument("--verify", action="store_true",
                        help="always load WordNet fully (default: trust an earlier verification "
                             "while the files are unchanged)")
    parser.add_argument("--nltk_data", default=None,
                        help="NLTK data dir to install into (default: $NLTK_DATA or <sys.prefix>/nltk_data)")
    args = parser.parse_args(argv)
    log = lambda msg: print(f"wordnet_setup: {msg}", file=sys.stderr)  # noqa: E731
    nltk_data = os.path.abspath(args.nltk_data) if args.nltk_data else default_nltk_data_dir()
    on_search_path = nltk_data in nltk_search_path()  # before load_wordnet() adds it

    if not args.verify and (wordnet_dir := fast_check(nltk_data)):
        print(f"wordnet_setup: OK: WordNet loads via NLTK from {wordnet_dir} "
              "(verified earlier, files unchanged; --verify to load it again)")
        return 0
    try:
        wn = load_wordnet(nltk_data)
        synset = wn.synsets("car")[0]
        root = wn.root.path if hasattr(wn, "root") else "?"
        write_stamp(nltk_data)
        print(f"wordnet_setup: OK: WordNet {wn.get_version()} loads via NLTK from {root} "
              f"(car -> {synset.name()}, {synset.lexname()})")
        if args.install:
            print(f"wordnet_setup: {build_synonym_table(nltk_data)}")
        return 0
    except WordNetMissingError as err:
        if not args.install:
            print(f"wordnet_setup: MISSING: {err}", file=sys.stderr)
            return EXIT_MISSING

    src = find_debian_dir()
    if src is None:
        if not apt_install(log) or (src := find_debian_dir()) is None:
            print("wordnet_setup: ERROR: the Debian WordNet files are not available and could not be "
                  f"installed. {REMEDY}", file=sys.stderr)
            return EXIT_MISSING
    target = os.path.join(nltk_data, "corpora", "wordnet")
    if not wordnet_dir_complete(target):
        log(f"copying WordNet 3.0 from {src} to {target} (+ lexnames)")
        try:
            copy_wordnet(src, nltk_data)
        except OSError as err:
            print(f"wordnet_setup: ERROR: cannot write {target} ({err}). {REMEDY}", file=sys.stderr)
            return EXIT_MISSING
    ok, detail, table = check_and_build_in_subprocess(nltk_data)
    if not ok:
        print(f"wordnet_setup: ERROR: copied to {target} but NLTK still cannot load it ({detail}). "
              + ("" if on_search_path else
                 f"{nltk_data} is not on NLTK's search path: set NLTK_DATA={nltk_data}. ") + REMEDY,
              file=sys.stderr)
        return EXIT_MISSING
    write_stamp(nltk_data)
    print(f"wordnet_setup: OK: installed WordNet into {target} ({detail})")
    print(f"wordnet_setup: {table}")
    if not on_search_path:
        print(f"wordnet_setup: note: {nltk_data} is not a default NLTK data dir; "
              f"export NLTK_DATA={nltk_data}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
