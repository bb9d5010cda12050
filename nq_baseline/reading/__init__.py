"""Stage 1, jsonl -> documents: NQ files of either format, and a user's HTML or text, read into
`NqDocument`s (and NQ examples written, for tools and tests). Imports `common` only."""
