"""`make bench` (`python -m bench.bench`): figures and ratios, written to bench/results.json."""
