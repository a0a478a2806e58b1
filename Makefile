# Shortcuts for the scripts in scripts/ (which need nothing but bash and python3).
.PHONY: demo test lint typecheck bench clean

demo:
	scripts/demo

test:
	scripts/test

lint:
	scripts/bootstrap dev && .venv/bin/ruff check .

typecheck:
	scripts/bootstrap dev && .venv/bin/mypy

bench:
	scripts/bootstrap dev
	.venv/bin/python benchmarks/ingest.py
	.venv/bin/python benchmarks/cloudwatch_cost.py

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache sesmon-demo
