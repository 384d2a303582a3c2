# The two commands of the README. Both install what they need first.
.PHONY: setup demo test bench

setup:
	./scripts/setup

demo: setup
	mkdir -p out
	.venv/bin/dub samples/sample_es.mp4 --lang en -o out/sample_en.mp4 --report out/report.json

test:
	./scripts/setup --test-data
	.venv/bin/python -m pytest -q

bench:
	./scripts/setup --bench
	.venv/bin/python -m pytest -q -m local_llm tests/test_llm_server.py
	.venv/bin/python -m bench.foundation
