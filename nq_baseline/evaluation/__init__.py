"""Stage 7, predictions -> metrics: reading NQ gold and the official scorer's metrics.
Imports `common` only (it must not depend on how predictions were made)."""
