"""Stages 2-4, documents -> features -> records: bert_joint's examples and windows, WordPiece,
the TFRecord schema and writer, the preparation job and its augmentation. Imports `common`, `reading`."""
