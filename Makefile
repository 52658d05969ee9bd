# rsir_pl developer commands. `make run` and `make test` are the two commands of the README.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# a CPU build of torch keeps the install small; override on GPU machines, e.g. TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
# the FAISS extra: cpu (faiss-cpu) or gpu (faiss-gpu, CUDA machines); never both (they share faiss/)
FAISS ?= cpu
RSIR_DATA_DIR ?= $(abspath ../shared/data)
export RSIR_DATA_DIR

.PHONY: install run test test-fast lint bench mutation clean

install: $(BIN)/rsir

$(BIN)/rsir: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[dev,$(FAISS)]"
	@touch $(BIN)/rsir

# the main job: SASRec + one RSIR iteration on the embedded synthetic dataset (no files, no network);
# it ends with the verdict (base / RSIR / oracle). One torch thread unless OMP_NUM_THREADS says
# otherwise: this small model gains little from more, and on a busy 2-core machine torch's default
# two threads made each epoch several times slower (benchmarks/RESULTS.md, "Main job")
run: install
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/rsir self-improve --config configs/sasrec/synthetic.yaml

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

lint: install
	$(BIN)/ruff check src tests benchmarks

# every benchmark of benchmarks/README.md (hours on a 2-core CPU; see RESULTS.md)
bench: install
	$(BIN)/python benchmarks/generation.py --dataset toys
	$(BIN)/python benchmarks/fidelity.py
	$(BIN)/python benchmarks/rsir.py --config configs/sasrec/toys.yaml
	$(BIN)/python benchmarks/rsir.py --config configs/sasrec/beauty.yaml

# mutation testing of metrics, significance, history masking, fidelity, targets/prefix and the leakage
# guard (about an hour on 2 busy cores); the score and every survivor go to benchmarks/RESULTS.md
mutation: install
	$(BIN)/pip install --quiet -e ".[dev,mutation]"
	$(BIN)/python benchmarks/mutation.py

clean:
	rm -rf runs .pytest_cache .ruff_cache mutants
