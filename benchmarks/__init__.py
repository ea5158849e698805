"""MEAD benchmarks against peers, run as ``python -m benchmarks.bench_<topic>``."""
