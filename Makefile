# The commands the README shows.
.PHONY: setup dev test test-fast lint format bench chaos clean otp

setup:            ## install everything (system packages if missing, .venv, Kafka jars)
	bash deploy/bootstrap.sh

dev: setup        ## run the whole system: broker, mail sink, three services and workers, demo data
	.venv/bin/python -m deploy.devstack

test: setup lint  ## run every test: unit, integration (real Kafka, PostgreSQL, SMTP), e2e, browser, short chaos run
	.venv/bin/pytest

test-fast: setup  ## unit tests only
	.venv/bin/pytest tests/unit

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

bench: setup      ## speed (the main flow under load, search, import) and alert-accuracy figures, written to docs/
	.venv/bin/pip install -q -e '.[dev,bench]'
	.venv/bin/python -m bench.availability
	.venv/bin/python -m bench.alert_accuracy
	.venv/bin/python -m bench.import_scale
	.venv/bin/python -m bench.pipeline

chaos: setup      ## the long chaos run (5,000 flows, 20+ minutes) and the long restore drill, each then counted
	.venv/bin/python -m bench.chaos
	.venv/bin/python -m bench.restore_drill

otp:              ## a demo account's current one-time code: make otp USER=ada
	.venv/bin/python -m deploy.keycloak.server otp $(USER)

clean:
	rm -rf var .pytest_cache
