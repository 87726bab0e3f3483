"""Benchmarks: ``python -m bench.<name>``; each prints its headline ratio last."""
