"""The CI workflow and the scripts it runs: every step is a script in .ci/, every job uploads
the directory its failures write seeds to, the scripts' commands work here, and what users and
CI install is the tested dependency set of constraints.txt."""

from __future__ import annotations

import json
import os
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from umi_dst.pytest_plugin.contract_shard import SEED_PROPERTY
from umi_dst.seedfiles import seeds

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
CONSTRAINTS = ROOT / "constraints.txt"


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def script_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This checkout's code, no reinstall, seeds into ``tmp_path``, no upgrade pair unless asked."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("UMI_")}
    return {
        **env,
        "PYTHONPATH": str(ROOT),
        "UMI_CI_NO_INSTALL": "1",
        "UMI_SEED_OUTPUT": str(tmp_path / "ci-seeds"),
        "UMI_CI_NO_UPGRADE": "1",
        "UMI_CI_NO_LANGCHAIN_POSTGRES": "1",
        **extra,
    }


def test_every_job_runs_a_ci_script_and_uploads_the_seed_output():
    flow = workflow()
    seed_output = flow["env"]["UMI_SEED_OUTPUT"]
    assert set(flow["jobs"]) == {"test", "nightly", "latest"}
    assert "schedule" in flow[True], "the nightly job needs a schedule"  # YAML reads the key `on` as True
    for name, job in flow["jobs"].items():
        runs = [step["run"] for step in job["steps"] if "run" in step]
        assert runs, f"job {name} runs nothing"
        for command in runs:
            script = ROOT / command.split()[0]
            assert script.parent == ROOT / ".ci" and os.access(script, os.X_OK), f"{command!r} is not a .ci/ script"
        uploads = [step for step in job["steps"] if step.get("uses", "").startswith("actions/upload-artifact")]
        assert uploads and f"{seed_output}/" in uploads[0]["with"]["path"].split(), (
            f"job {name} does not upload {seed_output}/"
        )


def test_the_test_job_command_parses_its_options(tmp_path):
    result = subprocess.run(
        [str(ROOT / ".ci" / "run"), "--collect-only", "-q", "-n", "0", "tests/test_ci.py"],
        env=script_env(tmp_path), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_the_test_job_command_parses_its_options" in result.stdout


@pytest.mark.slow
def test_the_test_job_runs_one_real_upgrade_pair_after_the_suite(tmp_path):
    """``.ci/run`` itself (not only the workflow) ends with a short campaign across one real
    upgrade, lancedb 0.30.2 writing and this release reading; its report lands in the uploaded
    seed output. The environment comes from the cache, or from the registry on a fresh machine."""
    result = subprocess.run(
        [str(ROOT / ".ci" / "run"), "--collect-only", "-q", "-n", "0", "tests/test_ci.py"],
        env=script_env(tmp_path, UMI_CI_NO_UPGRADE=""), capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (report,) = (tmp_path / "ci-seeds" / "upgrade-report").glob("campaign-*.json")
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["settings"]["backends"] == ["lance from lancedb==0.30.2"]
    assert data["coverage"]["lance from lancedb==0.30.2"]["cases"] >= 2 and data["bugs"] == []


def test_the_nightly_job_finds_a_planted_bug_within_its_budget_and_leaves_its_seed(tmp_path):
    junit = tmp_path / "junit.xml"
    env = script_env(
        tmp_path, UMI_NIGHTLY_BACKENDS="umi_dst.selftest.mutants:delete_always_true", UMI_NIGHTLY_SECONDS="1"
    )
    result = subprocess.run(
        [str(ROOT / ".ci" / "nightly"), "--umi-shards", "1", "-n", "0", f"--junitxml={junit}"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "hypothesis profile 'nightly'" in result.stdout
    (written,) = (tmp_path / "ci-seeds").rglob("*.json")
    assert seeds.load(written).backend == "umi_dst.selftest.mutants:delete_always_true"
    assert f'name="{SEED_PROPERTY}" value="{written}"' in junit.read_text(encoding="utf-8")


def pinned() -> dict[str, str]:
    """Package name -> the version constraints.txt pins it to."""
    pins = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, separator, version = line.partition("==")
            assert separator and version, f"constraints.txt: {line!r} is not an exact pin"
            pins[canonicalize_name(name)] = version
    return pins


def required(name: str, extras: set[str], seen: dict[str, str]) -> None:
    """Every distribution ``name[extras]`` needs here, transitively, with its installed version."""
    distribution = metadata.distribution(name)
    seen[canonicalize_name(name)] = distribution.version
    for text in distribution.requires or []:
        requirement = Requirement(text)
        wanted = requirement.marker is None or any(
            requirement.marker.evaluate({"extra": extra}) for extra in extras or {""}
        )
        if wanted and canonicalize_name(requirement.name) not in seen:
            required(requirement.name, set(requirement.extras), seen)


def test_the_install_commands_install_the_tested_set():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert 'pip install -e ".[test]" -c constraints.txt' in readme, "the README installs the tested set"
    for script in ("run", "nightly"):
        assert '-e ".[test]" -c constraints.txt' in (ROOT / ".ci" / script).read_text(encoding="utf-8"), script
    assert "constraints.txt" not in (ROOT / ".ci" / "newest-env.sh").read_text(encoding="utf-8"), "latest is unpinned"


def test_the_tested_set_pins_everything_the_test_extra_installs():
    """A dependency added to pyproject.toml without running .ci/pin would install unpinned."""
    pins = pinned()
    needed: dict[str, str] = {}
    required("umi-dst", {"test", "lance", "postgres", "bench", "cluster", "langchain", "mem0", "chroma"}, needed)
    del needed["umi-dst"]
    assert sorted(set(needed) - set(pins)) == [], "installed by .[test] but not pinned in constraints.txt"
    for name in needed:
        for text in metadata.distribution("umi-dst").requires or []:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == name:
                assert requirement.specifier.contains(pins[name], prereleases=True), (
                    f"{name}=={pins[name]} breaks {text}"
                )
