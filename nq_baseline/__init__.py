"""nq-baseline: Google's BERT-joint Natural Questions baseline on TensorFlow 2 / Keras 3."""

__version__ = "0.1.0"
__all__ = ["Reader"]


def __getattr__(name):  # `from nq_baseline import Reader` without importing TensorFlow for every module
    if name == "Reader":
        from nq_baseline.prediction.reader import Reader
        return Reader
    raise AttributeError(f"module 'nq_baseline' has no attribute {name!r}")
