"""Stage 6, model -> raw results -> predictions: the forward pass, post-processing as pure
functions, lexical scoring and the Reader. Imports `common`, `reading`, `features`, `model`."""
