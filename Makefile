# gridbot: `make run` serves the demo, `make test` runs every test. Both set up what they need.
SHELL := /bin/bash
PY_BOT  := $(shell scripts/find-python.sh 3.11 bot)
PY_RASA := $(shell scripts/find-python.sh 3.10 Rasa)
PIP_FLAGS := --disable-pip-version-check -q

.PHONY: setup run test lint unit model assets browser fonts clean-venvs

setup: .venv/.installed .venv-rasa/.installed model assets fonts

# PDF bulletins embed a Chinese font (a subset): Debian's WenQuanYi Zen Hei (GRIDBOT_PDF_FONT to use another).
# Without it the bot still runs; a PDF download answers 503 saying what is missing.
FONT := /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc
fonts: $(FONT)
$(FONT):
	apt-get install -y -q fonts-wqy-zenhei || { apt-get update -q && apt-get install -y -q fonts-wqy-zenhei; } \
	  || echo "warning: could not install fonts-wqy-zenhei (run as root, or set GRIDBOT_PDF_FONT): PDF bulletins need it"

# The admin web's charts: Apache ECharts from the npm registry (package-lock.json), served from /static/vendor.
ECHARTS := admin/static/vendor/echarts.min.js
assets: $(ECHARTS)
$(ECHARTS): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node.js) is required for the admin web's charts"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(dir $@) && cp node_modules/echarts/dist/echarts.min.js $@

# Browser tests drive Debian's Chromium (no browser download); install it when it is missing.
CHROMIUM := /usr/bin/chromium
browser: $(CHROMIUM)
$(CHROMIUM):
	apt-get install -y -q chromium fonts-wqy-zenhei || { apt-get update -q && apt-get install -y -q chromium fonts-wqy-zenhei; }

.venv/.installed: requirements.txt requirements-dev.txt
	@test -n "$(PY_BOT)" || { echo "Python 3.11 is required"; exit 1; }
	$(PY_BOT) -m venv .venv
	.venv/bin/pip install $(PIP_FLAGS) -r requirements-dev.txt
	touch $@

.venv-rasa/.installed: requirements-rasa.txt constraints-rasa.txt
	@test -n "$(PY_RASA)" || { echo "Python 3.10 is required for Rasa"; exit 1; }
	$(PY_RASA) -m venv .venv-rasa
	.venv-rasa/bin/pip install $(PIP_FLAGS) -r requirements-rasa.txt -c constraints-rasa.txt
	touch $@

# Validates config/intents and trains only when the generated project changed (models are cached by version in ~/.cache/gridbot).
model: .venv/.installed .venv-rasa/.installed
	.venv/bin/python run_bot.py nlu train

run: setup
	GRIDBOT_DEMO=$${GRIDBOT_DEMO:-true} GRIDBOT_ADMIN_USER=$${GRIDBOT_ADMIN_USER:-admin} \
	GRIDBOT_ADMIN_PASSWORD=$${GRIDBOT_ADMIN_PASSWORD:-gridbot-demo} .venv/bin/python run_bot.py serve

lint: .venv/.installed
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports

test: setup browser lint
	.venv/bin/pytest -p no:cacheprovider $(PYTEST_ARGS)

unit: .venv/.installed
	.venv/bin/pytest -p no:cacheprovider tests/unit

clean-venvs:
	rm -rf .venv .venv-rasa
