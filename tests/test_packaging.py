"""The install story: pyproject, environment.yml, the README's commands and .ci/run agree."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

# pip name -> conda-forge name, where they differ.
CONDA_NAME = {"torch": "pytorch", "opencv-python-headless": "opencv"}


def _name_and_spec(requirement: str) -> tuple[str, str]:
    match = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", requirement.strip())
    assert match, requirement
    return match.group(1).lower(), match.group(2).replace(" ", "")


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])
    return dict(_name_and_spec(r) for r in requirements)


def _environment_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    return dict(_name_and_spec(d.replace("=", "==", 1) if re.match(r"^[\w\-]+=[^=]", d) else d) for d in conda)


def _readme_command(label: str) -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(rf"<!-- {label} -->\s*```(?:bash|sh)?\n(.*?)\n```", readme, re.S)
    assert block, f"README.md has no `<!-- {label} -->` code block"
    return block.group(1).strip()


class TestEnvironmentFile:
    def test_same_packages_and_versions_as_pyproject(self):
        pip_side = {CONDA_NAME.get(name, name): spec for name, spec in _pyproject_requirements().items()}
        conda_side = _environment_requirements()
        assert conda_side.pop("python") == "==3.11"
        conda_side.pop("pip")
        assert conda_side == pip_side

    def test_installs_this_package_with_pip(self):
        env = yaml.safe_load((ROOT / "environment.yml").read_text())
        pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
        assert pip_sections and any("-e ." in line for line in pip_sections[0])


class TestCommands:
    def test_ci_runs_the_readme_test_command_verbatim(self):
        ci_lines = [l.strip() for l in (ROOT / ".ci/run").read_text().splitlines()]
        assert _readme_command("test-command") in ci_lines

    def test_readme_has_two_quick_start_commands(self):
        assert _readme_command("workbook-command").startswith("python3 -m venv .venv")
        assert _readme_command("test-command").startswith("python3 -m venv .venv")

    def test_console_script_and_module_entry_point_agree(self):
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        assert project["scripts"]["gcflnet"] == "gcflnet_lib.cli:main"
        out = subprocess.run([sys.executable, "-m", "gcflnet_lib", "--help"], capture_output=True, text=True, check=True)
        assert "synth" in out.stdout and "score" in out.stdout

    def test_unknown_command_fails(self):
        out = subprocess.run([sys.executable, "-m", "gcflnet_lib", "no-such-command"], capture_output=True, text=True)
        assert out.returncode != 0
        assert "invalid choice" in out.stderr
