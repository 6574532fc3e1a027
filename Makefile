# envgrid: `make run` installs and runs the whole system; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test fuzz bench faults migrate seed compose-check clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	@touch $(STAMP)

run: install
	$(BIN)/python -m infra.run

test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=15

# Deeper schema-driven fuzzing of every endpoint (make test runs a few examples of each).
FUZZ_EXAMPLES ?= 40
fuzz: install
	ENVGRID_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) ENVGRID_FUZZ_RANDOM=1 \
		$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_fuzz.py

bench: install
	$(BIN)/python -m bench.run

faults: install
	$(BIN)/python -m bench.faults

migrate: install
	$(BIN)/python -m infra.migrate

seed: install
	$(BIN)/python -m infra.seed

compose-check: install
	$(BIN)/python -m infra.compose_check docker-compose.yml

clean:
	rm -rf data .pytest_cache
