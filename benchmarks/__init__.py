"""Benchmarks of deepfm_np (outside the library and the tests): `python -m benchmarks.NAME`.

Each prints a table and writes JSON (default benchmarks/results/NAME.json); benchmarks/report.py turns
the JSON into the README's Performance section. No test asserts a timing; the numbers live here.
"""
