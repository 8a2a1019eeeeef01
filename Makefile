# photodemo: `make demo` runs the whole pipeline locally, `make test` runs the tests.
# Everything runs in .venv, made here from requirements-dev.txt (pinned, hash-checked).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PAYLOAD_SOURCES := $(wildcard payload/luminance/*.py payload/luminance/core/*.py) payload/boot.sh payload/preamble.py payload/requirements.txt build.py requirements-dev.txt

COUNT ?= 300

.PHONY: venv payload lint test bench demo clean

venv: $(STAMP)

$(STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements-dev.txt
	touch $@

payload: dist/luminance.pex

dist/luminance.pex: $(STAMP) $(PAYLOAD_SOURCES)
	$(PY) build.py --output $@

# The typed stdlib core the payload shares with ./submit and ./aggregate (payload/luminance/core),
# and the jobs' names and files (photodemo/jobs.py): mypy checks these. bundle.py (the store's
# reader) is not annotated throughout, so mypy leaves it out.
TYPED := $(filter-out %/bundle.py,$(wildcard payload/luminance/core/*.py)) photodemo/jobs.py

# ruff (pyproject.toml: errors, pycodestyle at 110 columns, bugbear) and mypy on the typed core.
# Both run, whatever the first finds; the exit status is the worse of the two.
lint: $(STAMP)
	@status=0; $(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/mypy $(TYPED) || status=1; exit $$status

# The lint and type gate runs first: a finding fails `make test` (and CI, which runs it).
# Two pytest processes: the HTCondor pool tests (one xdist group, one pool) mostly wait on the
# pool, so the rest of the suite runs beside them. `make test TEST_PROCESSES=0` runs it in one.
TEST_PROCESSES ?= 2

test: $(STAMP) lint
	$(PY) -m pytest -n $(TEST_PROCESSES) --dist loadgroup

bench: dist/luminance.pex
	$(PY) -m bench

# The whole pipeline on this machine: sample archive, manifest from its XML, a local HTTP server,
# ./submit --local, ./aggregate > demo/scatter.html. `make demo COUNT=1000` for a bigger archive;
# `make demo DEMO_OPTIONS=--federation` serves it as a local Pelican federation (osdf-like URLs).
demo: dist/luminance.pex
	$(PY) -m photodemo.demo --count $(COUNT) $(DEMO_OPTIONS)

clean:
	rm -rf dist build .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
