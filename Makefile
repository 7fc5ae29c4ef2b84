# Reelstream: the one front door. `make help` lists every target.
# Variables you can override: PYTHON, KAFKA_PORT, DATA, TRACES, ARGS.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
KAFKA_PORT ?= 9092
export KAFKA_PORT
PROTOS := $(shell find proto -name '*.proto' | sort)
DATA ?= ../shared/data/movielens-100k/u.data
TRACES ?= ../shared/data/abr/cooked_test_traces,../shared/data/abr/fcc_test_traces

.PHONY: help
help: ## list every target with what it does
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: pyproject.toml
	@command -v java >/dev/null || { echo "Java 17 is required (apt-get install openjdk-17-jre-headless)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip uv
	$(VENV)/bin/uv pip install --python $(PY) -e '.[dev]'
	touch $@

.PHONY: setup
setup: $(VENV)/.installed kafka-fetch ## create .venv with every dependency and fetch the Kafka jars

.PHONY: proto
proto: $(VENV)/.installed ## regenerate Python code from proto/ into libs/ (committed)
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) -m grpc_tools.protoc -I proto --python_out=libs --grpc_python_out=libs \
	  --mypy_out=libs --mypy_grpc_out=libs $(PROTOS)
	@for d in $$(find libs/reelstream -name '*_pb2.py' -exec dirname {} \; | sort -u); do \
	  touch $$d/__init__.py $$(dirname $$d)/__init__.py; done

.PHONY: proto-check
proto-check: $(VENV)/.installed ## fail if the committed generated code differs from proto/
	@tmp=$$(mktemp -d); \
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) -m grpc_tools.protoc -I proto --python_out=$$tmp --grpc_python_out=$$tmp \
	  --mypy_out=$$tmp --mypy_grpc_out=$$tmp $(PROTOS) && \
	for f in $$(cd $$tmp && find . -name '*_pb2*'); do \
	  cmp -s $$tmp/$$f libs/$$f || { echo "proto drift: libs/$$f differs from proto/ (run make proto)"; rm -rf $$tmp; exit 1; }; done; \
	extra=$$(cd libs && find . -name '*_pb2*' | while read f; do [ -e $$tmp/$$f ] || echo $$f; done); \
	rm -rf $$tmp; [ -z "$$extra" ] || { echo "generated files without a proto: $$extra"; exit 1; }; \
	echo "generated code matches proto/"

.PHONY: lint
lint: $(VENV)/.installed ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

.PHONY: format
format: $(VENV)/.installed ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: typecheck
typecheck: $(VENV)/.installed ## mypy over libs, services, bench, tests
	$(VENV)/bin/mypy

.PHONY: test
test: setup ## run every test; the suite starts its own Kafka broker (or uses KAFKA_BOOTSTRAP)
	$(PY) -m pytest $(ARGS)

.PHONY: test-unit
test-unit: $(VENV)/.installed ## only the fast unit tests (no broker)
	$(PY) -m pytest tests/unit $(ARGS)

.PHONY: check
check: proto-check lint typecheck test ## everything CI runs

.PHONY: kafka-fetch
kafka-fetch: ## resolve the Apache Kafka jars from Maven Central into .local/kafka
	deploy/kafka/kafka.sh fetch

.PHONY: kafka-up
kafka-up: kafka-fetch $(VENV)/.installed ## start local Kafka (KRaft) on KAFKA_PORT and create the declared topics
	deploy/kafka/kafka.sh start
	$(PY) -m reelstream.platform.topics --bootstrap 127.0.0.1:$(KAFKA_PORT)

.PHONY: kafka-down
kafka-down: ## stop the local Kafka started by kafka-up
	deploy/kafka/kafka.sh stop

.PHONY: topics
topics: $(VENV)/.installed ## create (or check) every declared topic on the running broker
	$(PY) -m reelstream.platform.topics --bootstrap 127.0.0.1:$(KAFKA_PORT)

.PHONY: clean
clean: ## remove caches and local state (keeps .venv and the Kafka jars)
	rm -rf .pytest_cache .mypy_cache .ruff_cache run .local/kafka/node-*

.PHONY: run
run: setup ## the main job: local Kafka, every service, a simulated audience for 30 min (Ctrl-C any time; ARGS="--duration 300" for 5 min); writes run/report.md
	$(PY) -m services.stack $(ARGS)

.PHONY: stop
stop: ## end whatever a detached or crashed `make run` left behind (services, not Kafka)
	$(PY) -m services.stack stop

.PHONY: bench-ingest
bench-ingest: kafka-up ## telemetry throughput through gRPC into Kafka vs the raw producer (JSON last line)
	$(PY) -m bench.ingest --bootstrap 127.0.0.1:$(KAFKA_PORT) --profile $(ARGS)

.PHONY: bench-reco
bench-reco: $(VENV)/.installed ## prequential MovieLens recall of the service's learner vs popularity (DATA=path)
	$(PY) -m bench.reco --data $(DATA) $(ARGS)

.PHONY: bench-reco-e2e
bench-reco-e2e: kafka-up loadgen ## the same replay through telemetry → Kafka → recommendation over gRPC; freshness, latency
	$(PY) -m bench.reco_e2e --bootstrap 127.0.0.1:$(KAFKA_PORT) --data $(DATA) $(ARGS)

.PHONY: bench-reco-arms
bench-reco-arms: $(VENV)/.installed ## learned vs popularity rows on the simulated audience, in process (no Kafka/gRPC; ~15 min)
	$(PY) -m bench.reco_arms $(ARGS)

.PHONY: bench-abr
bench-abr: kafka-up loadgen ## ABR QoE on the Pensieve trace sets vs BBA, rate-based, BOLA, robustMPC, optimum (TRACES=d1,d2), and decision p99 through gRPC at 1,000/s
	$(PY) -m bench.abr --traces $(TRACES) --grpc-bootstrap 127.0.0.1:$(KAFKA_PORT) $(ARGS)

.PHONY: bench-abr-select
bench-abr-select: $(VENV)/.installed ## ABR rows vs the default on training QoE over warm-up orders, paired (ROWS="label;label"; ~10 s a row)
	$(PY) -m bench.abr.selection --rows "$(ROWS)" $(ARGS)

.PHONY: bench-churn
bench-churn: $(VENV)/.installed ## churn AUC with delayed labels vs oracle and a hindsight batch model
	$(PY) -m bench.churn $(ARGS)

.PHONY: bench-churn-emulate
bench-churn-emulate: $(VENV)/.installed ## churn feature sets compared in minutes on one cached run's labelled snapshots (SEED=1)
	$(PY) -m bench.churn.emulate --seed $(or $(SEED),0) --records .local/churn_records_s$(or $(SEED),0).pkl $(ARGS)

.PHONY: bench-e2e
bench-e2e: kafka-up ## the full stack under a growing simulated audience until a latency or lag bound breaks
	$(PY) -m bench.e2e --bootstrap 127.0.0.1:$(KAFKA_PORT) $(ARGS)

.PHONY: loadgen
loadgen: $(VENV)/.installed ## build the Go open-loop gRPC load generator used by the serving benchmarks
	PY=$(CURDIR)/$(PY) bench/loadgen/build.sh

.PHONY: bench-abr-grpc
bench-abr-grpc: kafka-up loadgen ## ABR decision latency through gRPC at 1,000 decisions/s, stream and unary, normal and real-time CPU priority (open loop)
	$(PY) -m bench.abr_grpc --bootstrap 127.0.0.1:$(KAFKA_PORT) $(ARGS)
