# Two commands a new user needs: `make test` and `make repro`. Each creates .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install test repro bench kfp-specs clean-venv

install: $(STAMP)

# torch==2.13.0 goes in the same pip call as everything else, so pip never picks a CUDA build.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0" -e ".[test]"
	@rm -f $(VENV)/.installed-* && touch $@

# The raw data and the human labels (data/human, `iacsieve labels add`) come from the DVC remote (the
# in-repo folder dvc-remote/ by default); pulled again only when a .dvc file changes. The stamp lives
# in .dvc/tmp, outside the DVC-tracked folders.
DATA_STAMP := .dvc/tmp/data-pulled

$(DATA_STAMP): data.dvc data/human.dvc | install
	$(BIN)/dvc pull --quiet data.dvc data/human.dvc
	@mkdir -p $(dir $@) && touch $@

test: install $(DATA_STAMP)
	$(BIN)/python -m pytest -q

repro: install $(DATA_STAMP)
	$(BIN)/iacsieve params
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro
	@$(BIN)/iacsieve where

# The checked-in KFP specs (components/*/component.yaml, pipelines/*.yaml), regenerated from the code.
kfp-specs: install
	$(BIN)/iacsieve kfp specs

bench: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m iacsieve.bench

clean-venv:
	rm -rf $(VENV)
