# The two commands of the README: `make report` (set up and run the main job: the evaluation report on the
# bundled sample with the embedded model) and `make test` (set up and run all tests).
PY := .venv/bin
.PHONY: setup browser test nbtest pytest check-sync bench readme report

setup:
	bash scripts/setup.sh

# the main job: the evaluation report on the bundled sample (embedded model, 2 prompts x 2 chunk sizes x 2 k)
report: setup
	$(PY)/workbench report

# report notebooks (nbs/reports) run under papermill with their parameters, in tests/test_reports.py
nbtest: setup
	$(PY)/nbdev-test --flags slow --skip-folder-re '^reports$$'

# Debian's chromium for the browser and report-rendering tests (apt; no browser download)
browser:
	bash scripts/setup_browser.sh

pytest: setup browser
	$(PY)/pytest -q tests/

test: nbtest pytest

# notebooks and the exported modules agree, and notebooks carry no outputs (CI runs this on a clean checkout)
check-sync: setup
	$(PY)/nbdev-export
	@test -z "$$(git status --porcelain -- workbench)" || { git status --porcelain -- workbench; echo "nbdev-export changed workbench/: notebooks and modules are out of sync"; exit 1; }
	$(PY)/nbdev-clean
	@test -z "$$(git status --porcelain -- nbs)" || { git status --porcelain -- nbs; echo "nbdev-clean changed nbs/: commit clean notebooks without outputs"; exit 1; }
	$(MAKE) --no-print-directory readme
	@git diff --quiet -I '^    ' -- README.md || { git diff -I '^    ' -- README.md | head -40; echo "README.md is not current: run make readme and commit it"; exit 1; }
	@git checkout -q -- README.md

# README.md is generated from nbs/index.ipynb (executed, so its tour shows real output)
readme: setup
	$(PY)/jupyter nbconvert --to markdown --execute nbs/index.ipynb --output-dir . --output README --log-level WARN

# benchmarks print measured ratios side by side (targets live here, never in timed tests)
bench: setup
	for b in benchmarks/*.py; do echo "== $$b"; $(PY)/python $$b || exit 1; done
