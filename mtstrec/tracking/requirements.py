"""The pyfunc's pip requirements, derived from the code it runs and the installed, pinned set.

Which distributions: every third-party package imported by the modules that the pyfunc
entry point reaches inside `mtstrec` (found by reading their imports, not by a hand list).
Which versions: the installed ones, which `make setup` takes from `constraints.txt`; when
the project's `constraints.txt` is present it is attached too (`-c`), so that a fresh
serving environment resolves every transitive dependency to the versions tested here.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from functools import cache
from importlib.metadata import packages_distributions, version
from pathlib import Path

PACKAGE = "mtstrec"
ENTRY_MODULE = "mtstrec.tracking.pyfunc_entry"
CONSTRAINTS = Path(__file__).resolve().parents[2] / "constraints.txt"


def _module_file(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec and spec.origin and spec.origin.endswith(".py") else None


def _imports(path: Path, module: str) -> set[str]:
    """Absolute names of the modules (and `from` targets) imported anywhere in one file."""
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def imported_packages(entry: str = ENTRY_MODULE) -> set[str]:
    """Top-level third-party packages imported by `entry` and the `mtstrec` modules it reaches."""
    pending, visited, outside = [entry], set(), set()
    while pending:
        module = pending.pop()
        if module in visited:
            continue
        visited.add(module)
        parts = module.split(".")
        pending += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages run on import
        path = _module_file(module)
        if path is None:
            continue
        for name in _imports(path, module):
            top = name.split(".")[0]
            if top == PACKAGE:
                pending.append(name)
            elif top and top not in sys.stdlib_module_names and top != "__future__":
                outside.add(top)
    return outside


@cache
def pinned_distributions(entry: str = ENTRY_MODULE) -> dict[str, str]:
    """{distribution: installed version} for the packages the pyfunc imports."""
    owners = packages_distributions()
    pins = {}
    for package in sorted(imported_packages(entry)):
        if package not in owners:
            raise LookupError(f"{package!r} is imported by the served code but no installed distribution provides it")
        for dist in owners[package]:
            pins[dist] = version(dist)
    return pins


def pip_requirements() -> list[str]:
    pins = [f"{dist}=={ver}" for dist, ver in sorted(pinned_distributions().items())]
    return pins + ([f"-c {CONSTRAINTS}"] if CONSTRAINTS.is_file() else [])
