# Convenience targets; each is a thin wrapper around a Python script.
PY ?= python3

.PHONY: test test-quick lint sanity unit molecule lab lab-down bench images mirror

test:            ## full tier: lint, sanity, unit, every Molecule scenario (what CI runs)
	$(PY) scripts/test.py all
test-quick:      ## lint + unit + the default scenario
	$(PY) scripts/test.py quick
lint:
	$(PY) scripts/test.py lint
sanity:
	$(PY) scripts/test.py sanity
unit:
	$(PY) scripts/test.py unit
molecule:
	$(PY) scripts/test.py molecule $(SCENARIO)
lab:             ## bring up 3 lab hosts, run site.yml, print the cluster
	$(PY) scripts/test.py setup
	PATH=$(CURDIR)/.venv/bin:$$PATH $(PY) scripts/lab.py up
lab-down:
	$(PY) scripts/lab.py down
bench:           ## site.yml, growth and day-2 timings on the lab, with a task profile (#11)
	PATH=$(CURDIR)/.venv/bin:$$PATH $(PY) scripts/bench.py --runs 3
