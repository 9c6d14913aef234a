"""Benchmarks of jupyterhub-mlops; run them all with ``make bench``."""
