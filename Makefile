# Two commands a new user needs: `make test` and `make repro`. Each creates .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install test repro bench image image-local clean-venv

install: $(STAMP)

# torch==2.13.0 goes in the same pip call as everything else, so pip never picks a CUDA build.
# The driver extra: dvc, plots, kfp-kubernetes, docker-py (the component image leaves them out).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0" -e ".[test,driver]"
	@rm -f $(VENV)/.installed-* && touch $@

# The raw data comes from the DVC remote (the in-repo folder dvc-remote/ by default); pulled again
# only when data.dvc changes. The stamp lives in .dvc/tmp, outside the DVC-tracked data/raw.
DATA_STAMP := .dvc/tmp/data-pulled

$(DATA_STAMP): data.dvc | install
	$(BIN)/dvc pull --quiet data.dvc
	@mkdir -p $(dir $@) && touch $@

test: install $(DATA_STAMP)
	$(BIN)/python -m pytest -q

repro: install $(DATA_STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro
	@$(BIN)/iacsieve where

bench: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m iacsieve.bench

# The component image, tagged iacsieve:<package version> (docker/build_image.py --help; docker/README.md).
# image: the cluster image (CUDA torch base from a registry). image-local: no registry needed:
# debootstrapped Debian base + this machine's CPU wheelhouse of the pins, built offline.
image:
	$(PYTHON) docker/build_image.py

image-local:
	$(PYTHON) docker/build_image.py --local $(if $(wildcard $(BIN)/python),--python $(BIN)/python)

clean-venv:
	rm -rf $(VENV)
