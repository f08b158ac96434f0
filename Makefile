# Two commands a new user needs: `make test` and `make repro`. Each creates .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install lint test repro bench kfp-specs dvc-deps interfaces cli-reference image image-local image-filter clean-venv

install: $(STAMP)

# pip's output as a few progress lines instead of ~300 (every line goes to $(VENV)/install.log).
PIP_STEPS := awk '/^Collecting /{n++; if (n % 25 == 0) {print "  resolved " n " packages..."; fflush()}} \
	/^Installing collected packages/{k = split(substr($$0, index($$0, ":") + 2), names, ", "); \
	  print "  installing " k " package(s)..."; fflush()} \
	/^Successfully installed/{print "  installed " NF - 2 " package(s)"} /^(ERROR|error)/{print; fflush()}'

# torch==2.13.0 goes in the same pip call as everything else, so pip never picks a CUDA build.
# Everything: the base (what `filter` needs) and every extra but `cluster` (object stores; pyproject.toml).
ALL_EXTRAS := test,lint,hf,train,component,pipeline
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { echo "install: creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "install: torch 2.13.0 (CPU) + the pins of pyproject.toml into $(VENV) (first time ≈ 2 GB, a few minutes)"
	@{ $(BIN)/python -m pip install --disable-pip-version-check "torch==2.13.0" -e ".[$(ALL_EXTRAS)]" 2>&1; \
	   echo $$? > $(VENV)/.pip-status; } | tee $(VENV)/install.log | $(PIP_STEPS)
	@test "$$(cat $(VENV)/.pip-status)" = 0 || { echo "install: pip failed; its full log: $(VENV)/install.log"; exit 1; }
	@rm -f $(VENV)/.installed-* $(VENV)/.pip-status && touch $@
	@echo "install: done. Run the tools as $(BIN)/iacsieve, $(BIN)/dvc, or put them on PATH: . $(BIN)/activate"

# The raw data and the human labels (data/human, `iacsieve labels add`) come from the DVC remote (the
# in-repo folder dvc-remote/ by default); pulled again only when a .dvc file changes. The stamp lives
# in .dvc/tmp, outside the DVC-tracked folders.
DATA_STAMP := .dvc/tmp/data-pulled

$(DATA_STAMP): data.dvc data/human.dvc | install
	$(BIN)/iacsieve repair-dvc-lock
	$(BIN)/dvc pull --quiet data.dvc data/human.dvc
	@mkdir -p $(dir $@) && touch $@

# Formatter, linter and type checker, as configured in pyproject.toml (.pre-commit-config.yaml runs the same).
lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

# In parallel on every core (pytest-xdist); a test file stays on one worker, so its module fixtures
# (a trimmed DVC project, a kfp.local run) are built once. Files go out in the order tests/conftest.py
# gives them (the end-to-end ones first), not xdist's largest-test-count-first.
test: install $(DATA_STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile --no-loadscope-reorder

repro: install $(DATA_STAMP)
	$(BIN)/iacsieve params
	$(BIN)/iacsieve repair-dvc-lock
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro
	@$(BIN)/iacsieve where

# The checked-in KFP specs (components/*/component.yaml, pipelines/*.yaml), regenerated from the code.
kfp-specs: install
	$(BIN)/iacsieve kfp specs

bench: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m iacsieve.reporting.bench

# The component image, tagged iacsieve:<package version> (docker/build_image.py --help; docker/README.md).
# image: the cluster image (CUDA torch base from a registry). image-local: no registry needed:
# debootstrapped Debian base + this machine's CPU wheelhouse of the pins, built offline.
image:
	$(PYTHON) docker/build_image.py

image-local:
	$(PYTHON) docker/build_image.py --local $(if $(wildcard $(BIN)/python),--python $(BIN)/python)

# The filter image, tagged iacsieve-filter:<package version>: the base install (no torch) and the champion
# archive `make repro` leaves (models/champion.tar.gz; CHAMPION=FILE for another), built offline like
# image-local (docker/build_filter_image.py --help; docs/champion.md).
CHAMPION ?= models/champion.tar.gz
image-filter:
	$(PYTHON) docker/build_filter_image.py --champion $(CHAMPION) $(if $(wildcard $(BIN)/python),--python $(BIN)/python)

clean-venv:
	rm -rf $(VENV)

# dvc.yaml's code deps, regenerated from each stage's imports (a test says when they drifted).
dvc-deps: install
	$(BIN)/python -m iacsieve.repo.dvc_deps

# docs/INTERFACES.md, the JSON artifacts' reference, regenerated from src/iacsieve/core/artifacts.py.
interfaces: install
	$(BIN)/python -m iacsieve.core.artifacts --out docs/INTERFACES.md

# docs/cli.md, every command's --help, regenerated from the parser (a test says when it is stale).
cli-reference: install
	$(BIN)/python -m iacsieve.cli.reference --out docs/cli.md
