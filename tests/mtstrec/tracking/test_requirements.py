import re
from importlib.metadata import version
from pathlib import Path

from mtstrec.tracking.requirements import CONSTRAINTS, imported_packages, pinned_distributions, pip_requirements

REPO = Path(__file__).resolve().parents[3]


def constraint_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
        if match:
            pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return pins


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_pyfunc_requirements_agree_with_the_pinned_dependency_set():
    pins = constraint_pins()
    derived = pinned_distributions()
    assert derived, "no requirements derived"
    for dist, pinned in derived.items():
        assert normalise(dist) in pins, f"{dist} is imported by the pyfunc but not pinned in constraints.txt"
        assert pins[normalise(dist)] == pinned == version(dist), dist
    assert pip_requirements() == [f"{d}=={v}" for d, v in sorted(derived.items())] + [f"-c {CONSTRAINTS}"]


def test_requirements_cover_what_the_served_code_imports_and_nothing_of_the_pipeline():
    packages = imported_packages()
    assert {"torch", "mlflow", "numpy", "pandas", "pyarrow"} <= packages
    assert not packages & {"airflow", "open_clip", "timm", "sentence_transformers", "mtstrec", "tasks"}
