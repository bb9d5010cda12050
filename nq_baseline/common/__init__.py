"""What every stage shares: the input error, atomic outputs and temporaries, input paths,
int64 ids, the command-line conventions. Imports nothing else of nq_baseline."""
