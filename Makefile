# One entry point per job. Every target sets up what it needs, idempotently:
# Debian packages and the cached control plane (scripts/bootstrap-system.sh),
# then the virtualenv with the project installed in editable mode.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup system venv test test-fast lint bench fuzz chaos demo images dist clean

setup: system venv

# Always run: it is quick when everything is present, and mounts and kernel
# header links do not survive a reboot.
system:
	bash scripts/bootstrap-system.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	bash scripts/link-bcc.sh $(PY)
	touch $@

test: setup
	$(PY) -m pytest

test-fast: venv
	$(PY) -m pytest -m "not integration"

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: setup
	$(PY) -m benchmarks

# 100,000 generated hostile frames against the ingest (docs/reliability.md); `make test`
# sends 2,000. Prints the frames sent and the rejections by reason.
FUZZ_FRAMES ?= 100000
fuzz: venv
	BAMEL_FUZZ_FRAMES=$(FUZZ_FRAMES) $(PY) -m pytest -s -p no:cacheprovider \
		tests/reliability/test_hostile_input.py

# The controller SIGKILLed 50 times at random moments while the lab's machines cycle
# power (docs/reliability.md); `make test` kills it 6 times. Prints the kills, the
# power actions, the duplicates and the convergence p99, then scans for secrets.
CHAOS_KILLS ?= 50
chaos: setup
	BAMEL_CHAOS_KILLS=$(CHAOS_KILLS) $(PY) -m pytest -s -p no:cacheprovider \
		tests/reliability/test_chaos.py

# Both images from docker/Dockerfile with podman, on a base made from Debian's packages;
# cached in /var/cache/bamel (docs/images.md).
images: system
	bash scripts/build-images.sh

# dist/install.yaml: everything `kubectl apply -k daemonset/` installs, in one file.
dist:
	bash scripts/render-install.sh >dist/install.yaml.tmp
	mv dist/install.yaml.tmp dist/install.yaml

# The whole system on this machine, for real (docs/lab.md): a live view for DURATION,
# then the summary. DURATION=0 runs until Ctrl-C; HEADLESS=1 prints progress lines
# instead of the live view, for scripts and CI (exit 0 after a full run).
DURATION ?= 3m
HEADLESS ?=
demo: setup
	$(PY) -m bamel lab --duration $(DURATION) $(if $(HEADLESS),--headless)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
