"""Benchmarks of what the daemon does, end to end (run each file as a script)."""
