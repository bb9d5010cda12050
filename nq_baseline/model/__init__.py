"""Stage 5, records -> model: the BERT encoder with bert_joint's head, checkpoints, the model
folder, input pipelines and the training loop. Imports `common`, `reading`, `features`."""
