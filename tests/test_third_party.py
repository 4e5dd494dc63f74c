"""A third-party backend, installed the way a real one is, found by its scheme and run
through the shipped conformance suite with the one command docs/testing.md gives.

The backend lives in a throwaway directory: a module ``toy_brokerkit`` whose ``spec`` is
the memory backend under the scheme ``toy``, and a ``toy_brokerkit-0.1.dist-info`` with an
``entry_points.txt`` in the ``brokerkit.backends`` group. Nothing is registered at run
time: the subprocess finds the backend through ``importlib.metadata`` alone.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

TOY_MODULE = """
import dataclasses

from brokerkit.backends import BackendSpec
from brokerkit.backends.memory import spec as _memory

spec: BackendSpec = dataclasses.replace(
    _memory, name="toy", schemes=("toy",), description="a toy third-party backend"
)
"""

CONFTEST = 'pytest_plugins = ["brokerkit.testing.plugin"]\n'

SUITE = """
from brokerkit.testing import AsyncSuite, MixedSuite, PropertySuite, SyncSuite


class TestAsync(AsyncSuite): ...
class TestSync(SyncSuite): ...
class TestMixed(MixedSuite): ...
class TestProperties(PropertySuite): ...
"""


@pytest.fixture
def toy_site(tmp_path: Path) -> Path:
    """A directory that, on sys.path, installs the toy backend distribution."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "toy_brokerkit.py").write_text(TOY_MODULE)
    dist = site / "toy_brokerkit-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-brokerkit\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[brokerkit.backends]\ntoy = toy_brokerkit:spec\n")
    return site


def _env(site: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("BROKERKIT_TEST_URL", None)
    return env


def test_an_installed_backend_is_picked_up_by_its_scheme(toy_site: Path) -> None:
    script = textwrap.dedent(
        """
        import brokerkit
        assert "toy" in brokerkit.available(), brokerkit.available()
        with brokerkit.connect("toy://shop") as broker:
            assert broker.backend == "toy", broker.backend
            with broker.consumer("orders", group="billing") as consumer:
                with broker.producer("orders") as producer:
                    producer.send(b"hello", key="k", headers={"h": "v"})
                msg = consumer.receive(timeout=5)
                assert msg is not None
                print(msg.value.decode(), msg.key.decode(), msg.headers["h"])
                msg.ack()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=_env(toy_site),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == ["hello", "k", "v"]


def test_without_the_distribution_the_scheme_is_unknown(tmp_path: Path) -> None:
    script = "import brokerkit; brokerkit.connect('toy://shop')"
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ConfigurationError" in result.stderr
    assert "'toy'" in result.stderr


@pytest.mark.slow
def test_a_third_party_runs_the_suite_with_one_command(toy_site: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "conftest.py").write_text(CONFTEST)
    (project / "tests" / "test_brokerkit_conformance.py").write_text(SUITE)
    # The command docs/testing.md gives, with -k to keep this run short.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests",
            "--broker-url",
            "toy://conformance",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            "-k",
            "round_trip or every_group or nack_redelivers or gating",
        ],
        cwd=project,
        env=_env(toy_site),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    summary = re.search(r"(\d+) passed", result.stdout)
    assert summary is not None, result.stdout[-2000:]
    assert int(summary.group(1)) >= 10
    assert "failed" not in result.stdout.splitlines()[-1]


def _toolkit_example() -> str:
    """The toyq backend module docs/testing.md shows (the block that defines ``spec``)."""
    text = (ROOT / "docs" / "testing.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
    [code] = [str(b) for b in blocks if "brokerkit.backends.toolkit" in b and "\nspec = " in b]
    return code


@pytest.mark.slow
def test_the_documented_toolkit_backend_passes_the_suite(tmp_path: Path) -> None:
    """docs/testing.md's toyq backend, installed with an entry point, runs the shipped
    suite with the documented command: the toolkit is enough to write a backend."""
    site = tmp_path / "site"
    dist = site / "toyq_brokerkit-0.1.dist-info"
    dist.mkdir(parents=True)
    (site / "toyq_brokerkit.py").write_text(_toolkit_example())
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toyq-brokerkit\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[brokerkit.backends]\ntoyq = toyq_brokerkit:spec\n")
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "conftest.py").write_text(CONFTEST)
    (project / "tests" / "test_brokerkit_conformance.py").write_text(SUITE)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests",
            "--broker-url",
            "toyq://conformance",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            "-k",
            "round_trip or group or nack or dead_letter or close or gating or Mixed",
        ],
        cwd=project,
        env=_env(site),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    summary = re.search(r"(\d+) passed", result.stdout)
    assert summary is not None, result.stdout[-2000:]
    assert int(summary.group(1)) >= 30
    assert "failed" not in result.stdout.splitlines()[-1]
