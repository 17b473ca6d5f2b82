"""Benchmarks behind ``make bench``: each module prints one line per figure."""
