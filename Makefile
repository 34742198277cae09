# Temper developer entry points. `make test` is what CI runs (.ci/run): it installs every
# dependency from this repository's own files, then runs the whole suite, lab tier included.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: setup install check lint types layers test test-fast bpf demo lab-fetch clean

setup:            ## system packages (apt) + Python package with dev extras
	bash scripts/setup.sh

install:
	$(PIP) install --quiet -e '.[dev]'

lint:
	$(PYTHON) -m ruff check .

types:
	$(PYTHON) -m mypy

layers:
	lint-imports

check: lint types layers

bpf:              ## the sched_ext scheduler objects (bpf/build/)
	bash scripts/build-bpf.sh

lab-fetch:        ## kernels, QEMU and the guest image (cached; builds Linux 6.12 once)
	$(PYTHON) -m kernellab.cli fetch --kernel all

test: setup lab-fetch bpf    ## the whole suite, kernel lab tier included (CI runs this)
	$(PYTHON) -m pytest -q -p no:cacheprovider

demo: setup bpf   ## main job: fair class vs Temper latency table in the kernel lab
	$(PYTHON) -m temper.cli lab demo

test-fast:        ## everything but the kernel lab tier
	$(PYTHON) -m pytest -q -m "not lab"

clean:
	rm -rf build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache bpf/build
