# One command each: `make demo` (the main job) and `make test` (lint, types, tests).
# Both create .venv on first use; nothing else needs to be installed beforehand.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TYPES_ROOT := .mypy-src

.PHONY: demo test lint typecheck unit bench bench-env reliability-long clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,fleet,watch]'
	$(BIN)/python -c "$$MYPY_VIEW" >/dev/null
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/walsync demo --force

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .

# mypy cannot follow setuptools' package-dir mapping (an editable install maps it with an import
# hook): this script lays the mapped packages out as installed, in symlinks under $(TYPES_ROOT)/,
# made afresh from pyproject.toml every time. `make typecheck` checks that view, and a .pth file
# puts it on the venv's path, so mypy also resolves `walsync` in an embedder's file checked with
# this venv (the import hook stays behind it). A package that other mapped packages sit under
# (the `walsync` face) becomes a real folder holding links to its files, so the links of the
# packages under it are never written into the repository's folder. Nothing of it is kept in
# the repository.
define MYPY_VIEW
import pathlib, shutil, sysconfig, tomllib
mapping = tomllib.loads(pathlib.Path("pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
root = pathlib.Path("$(TYPES_ROOT)").resolve()
shutil.rmtree(root, ignore_errors=True)
for package, folder in mapping.items():
    link = root.joinpath(*package.split("."))
    if any(other.startswith(package + ".") for other in mapping):
        link.mkdir(parents=True, exist_ok=True)
        for file in pathlib.Path(folder).iterdir():
            if file.is_file():
                (link / file.name).symlink_to(file.resolve())
        continue
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(pathlib.Path(folder).resolve(), target_is_directory=True)
pathlib.Path(sysconfig.get_paths()["purelib"], "walsync-view.pth").write_text(f"{root}\n")
print(" ".join(f"-p {p}" for p in mapping if not any(p.startswith(o + ".") for o in mapping)))
endef
export MYPY_VIEW

typecheck: $(STAMP)
	packages=$$($(BIN)/python -c "$$MYPY_VIEW") && cd $(TYPES_ROOT) && \
		../$(BIN)/mypy --config-file ../pyproject.toml $$packages

unit: $(STAMP)
	$(BIN)/pytest -n 2 -q

# The bench environment: dev tools plus the peer library bench/bench_peer.py compares against.
bench-env: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,fleet,watch,bench]'

# The long reliability tier (docs/reliability.md): every test with more kills, cuts, faults and
# examples, beside a 30-minute soak (kills and injected faults); the figures table comes from
# what they recorded. Fails if either fails or anything was lost.
FIGURES := .reliability/figures.jsonl
SOAK_MINUTES ?= 30
reliability-long: $(STAMP)
	mkdir -p .reliability && rm -f $(FIGURES)
	$(BIN)/python tests/reliability/soak.py --minutes $(SOAK_MINUTES) --figures $(FIGURES) & soak=$$!; \
	WALSYNC_TIER=long WALSYNC_FIGURES=$(CURDIR)/$(FIGURES) $(BIN)/pytest -n 2 -q; tests=$$?; \
	wait $$soak; soaked=$$?; \
	$(BIN)/python tests/reliability/figures.py $(FIGURES) --markdown; figures=$$?; \
	test $$tests = 0 && test $$soaked = 0 && test $$figures = 0

# Every bench at its documented size (docs/performance.md); the peer needs `make bench-env`.
BENCHES := durable group bulk rebuild why sim scale peer walstat profile threads keepalive lifetime
bench: $(STAMP)
	for b in $(BENCHES); do $(BIN)/python bench/bench_$$b.py || exit 1; done

clean:
	rm -rf $(VENV) $(TYPES_ROOT) .pytest_cache .mypy_cache .hypothesis build *.egg-info walsync-demo.db* .reliability
