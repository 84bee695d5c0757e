# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint stack-up stack-down stack-status

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

demo: setup
	PATH=$(CURDIR)/$(BIN):$$PATH bash scripts/demo.sh

# The real-services stack tests (tests/infra) mostly wait on Airflow's scheduler, so they run beside the rest
# of the suite (CPU-bound): one pytest each, the stack's output printed when both are done; either failing fails.
test: setup
	$(BIN)/ruff check .
	@stack_log=$$(mktemp); \
	$(BIN)/pytest tests/infra > "$$stack_log" 2>&1 & stack=$$!; \
	$(BIN)/pytest --ignore=tests/infra; rest=$$?; \
	wait $$stack; status=$$?; \
	echo "== tests/infra (ran beside the rest)"; cat "$$stack_log"; rm -f "$$stack_log"; \
	exit $$(( rest || status ))

lint: setup
	$(BIN)/ruff check .

# The real-services stack (Postgres, moto S3, MLflow server, Airflow components) on this machine.
# STACK_EXECUTOR=celery for the CeleryExecutor with a Redis broker and a worker.
STACK_EXECUTOR ?= local
stack-up: setup
	$(BIN)/python -m infra.stack up --executor $(STACK_EXECUTOR)

stack-status:
	$(BIN)/python -m infra.stack status

stack-down:
	$(BIN)/python -m infra.stack down
