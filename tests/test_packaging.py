"""The set-up files agree with each other: pyproject and environment.yml list the same dependencies."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names for the PyPI distributions where they differ
CONDA_NAME = {"redis": "redis-py"}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!;\[]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_lists_every_pyproject_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [_name(r) for r in project["dependencies"]]
    wanted += [_name(r) for extra in ("notebooks", "test") for r in project["optional-dependencies"][extra]]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)}
    missing = [name for name in wanted if CONDA_NAME.get(name, name) not in conda]
    assert not missing, f"environment.yml lacks {missing}"
    assert "redis-server" in conda, "conda users need a real server too"
    assert "redis" not in conda, "conda's 'redis' package is a stale client; use redis-py"
    assert any(isinstance(d, dict) and "pip" in d for d in env["dependencies"]), "the package itself installs with pip"


def test_environment_yml_has_no_dependency_pyproject_lacks():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    known = {_name(r) for r in project["dependencies"]}
    known |= {_name(r) for reqs in project["optional-dependencies"].values() for r in reqs}
    known = {CONDA_NAME.get(n, n) for n in known} | {"python", "pip", "redis-server", "hiredis"}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    extra = [_name(d) for d in env["dependencies"] if isinstance(d, str) and _name(d) not in known]
    assert not extra, f"environment.yml has {extra} that pyproject.toml does not"
