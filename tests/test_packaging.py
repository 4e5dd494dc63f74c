"""The package as people install it: its name, metadata and the built wheel.

- every ``pip install`` hint (README, docs, errors, the bench) names the distribution in
  pyproject.toml, with an extra that exists;
- one version source, a LICENSE, the sdist without ``.ci/``, a package-index README whose
  links do not point into a repository the index cannot see;
- the wheel, installed into a fresh venv with the ``bench`` and ``suite`` extras only,
  runs the demo, ``brokerkit bench memory://`` (no matplotlib: tables, no PNGs) and the
  shipped conformance suite.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import tomllib
import venv
import zipfile
from pathlib import Path
from typing import Any

import pytest

import brokerkit
from brokerkit._dist import DISTRIBUTION, pip_install

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT: dict[str, Any] = PYPROJECT["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]

#: ``pip install NAME`` / ``pip install 'NAME[extras]'`` (local installs, ``-e .``, are not
#: hints about a distribution).
PIP_INSTALL = re.compile(
    r"""pip install\s+(?!-e\b|\.|["']\.)["']?([A-Za-z0-9_.-]+)(?:\[([^\]]*)\])?"""
)


def _texts() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    files += sorted((ROOT / "brokerkit").rglob("*.py"))
    return files


def test_the_distribution_name_is_the_one_in_pyproject() -> None:
    assert PROJECT["name"] == DISTRIBUTION
    assert DISTRIBUTION != "brokerkit"  # taken on the package index by an unrelated project
    assert pip_install() == f"pip install {DISTRIBUTION}"
    assert pip_install("redis") == f"pip install '{DISTRIBUTION}[redis]'"


def test_every_install_hint_names_the_distribution_and_a_real_extra() -> None:
    seen = 0
    for path in _texts():
        if path.name == "_dist.py":
            continue
        for match in PIP_INSTALL.finditer(path.read_text(encoding="utf-8")):
            name, extras = match.group(1), match.group(2)
            where = f"{path.relative_to(ROOT)}: {match.group(0)!r}"
            assert name == DISTRIBUTION, where
            for extra in filter(None, (e.strip() for e in (extras or "").split(","))):
                if extra.startswith("<"):  # a placeholder in a docstring: <extra>
                    continue
                assert extra in EXTRAS, f"{where}: no extra {extra!r} in pyproject.toml"
            seen += 1
        # A hint spelled 'brokerkit[...]' would install the unrelated project.
        assert not re.search(r"(?<![\w-])brokerkit\[", path.read_text(encoding="utf-8")), path
    assert seen >= 5


def test_the_missing_extra_hint_at_connect_time_names_the_distribution() -> None:
    from brokerkit._registry import _clear_caches, register_backend, unregister_backend
    from brokerkit.backends import BackendSpec
    from brokerkit.backends.memory import spec as memory

    needy = BackendSpec(
        **{
            **memory.__dict__,
            "name": "needy",
            "schemes": ("needy",),
            "requires": ("surely_not_installed_mod_xyz",),
            "extra": "redis",
        }
    )
    register_backend("needy-pkg", needy)
    try:
        with pytest.raises(brokerkit.ConfigurationError) as info:
            brokerkit.connect("needy-pkg://")
        assert f"pip install '{DISTRIBUTION}[redis]'" in str(info.value)
    finally:
        unregister_backend("needy-pkg")
        _clear_caches()


def test_extras_are_lean_and_backends_not_shipped_are_not_advertised() -> None:
    from brokerkit._registry import PLANNED_BACKENDS, all_specs

    planned = set(PLANNED_BACKENDS.values()) - {spec.extra for spec in all_specs()}
    assert not planned & set(EXTRAS), "an extra for a backend that is not shipped"
    assert any(r.startswith("redis") and ">=5.0.1" in r for r in EXTRAS["redis"])
    suite = " ".join(EXTRAS["suite"])
    for tool in ("mypy", "ruff", "unasync", "matplotlib"):
        assert tool not in suite
    assert "numpy" in " ".join(EXTRAS["bench"])  # brokerkit/bench/stats.py imports it
    assert "matplotlib" not in " ".join(EXTRAS["bench"])
    assert "matplotlib" in " ".join(EXTRAS["plots"])
    dev = " ".join(EXTRAS["dev"])
    for tool in ("mypy", "ruff", "unasync"):
        assert tool in dev


def test_one_version_source_a_license_and_classifiers() -> None:
    assert "version" not in PROJECT
    assert "version" in PROJECT["dynamic"]
    assert PYPROJECT["tool"]["hatch"]["version"]["path"] == "brokerkit/__init__.py"
    assert PROJECT["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    classifiers = PROJECT["classifiers"]
    assert "Typing :: Typed" in classifiers
    assert any(c.startswith("Development Status ::") for c in classifiers)
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert (ROOT / "brokerkit" / "py.typed").exists()


# -- the built package -----------------------------------------------------------------------


def _clean_env() -> dict[str, str]:
    """No PYTHONPATH (the worktree's brokerkit must not win), no broker URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "BROKERKIT_"))}
    env.pop("VIRTUAL_ENV", None)
    return env


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built once per session."""
    out = tmp_path_factory.mktemp("dist")
    try:
        import hatchling  # noqa: F401

        isolation = ["--no-build-isolation"]
    except ImportError:
        isolation = []
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-w", str(out), "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    if isolation:
        from hatchling.builders.sdist import SdistBuilder

        list(SdistBuilder(str(ROOT)).build(directory=str(out)))
    return out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob(f"{DISTRIBUTION}-*.whl")
    return wheel


def test_the_wheel_metadata(dist: Path) -> None:
    wheel = _wheel(dist)
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta = zf.read(f"{DISTRIBUTION}-{brokerkit.__version__}.dist-info/METADATA").decode()
    assert f"Name: {DISTRIBUTION}" in meta
    assert f"Version: {brokerkit.__version__}" in meta
    assert "License-Expression: MIT" in meta
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert "brokerkit/py.typed" in names
    assert "brokerkit/bench/workloads/max-throughput.toml" in names
    # The package index shows this README: no link into a repository it cannot see.
    readme = meta.split("\n\n", 1)[1]
    links = re.findall(r"\]\(([^)]+)\)", readme)
    assert all(link.startswith(("https://", "http://", "#")) for link in links), links
    assert "docs/quickstart.md" in readme  # named, as text


def test_the_sdist_leaves_ci_out(dist: Path) -> None:
    sdists = list(dist.glob(f"{DISTRIBUTION}-*.tar.gz"))
    if not sdists:
        pytest.skip("hatchling is not importable here: the sdist is not built")
    with tarfile.open(sdists[0]) as tf:
        names = tf.getnames()
    root = f"{DISTRIBUTION}-{brokerkit.__version__}/"
    assert root + "pyproject.toml" in names
    assert root + "LICENSE" in names
    assert not [n for n in names if "/.ci/" in n or n.endswith("/.ci")]


@pytest.fixture(scope="session")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel and its ``bench`` and ``suite`` extras (no matplotlib,
    no redis, no dev tools), once per session; returns its bin directory."""
    home = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(home)
    bindir = home / "bin"
    result = subprocess.run(
        [
            str(bindir / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            f"{_wheel(dist)}[bench,suite]",
        ],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return bindir


def _run(
    bindir: Path, *cmd: str, cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = _clean_env()
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_installed_wheel_runs_the_demo_and_the_commands(
    installed: Path, tmp_path: Path
) -> None:
    python = str(installed / "python")
    probe = (
        "import brokerkit, importlib.metadata as m; "
        f"print(brokerkit.__file__); print(m.version({DISTRIBUTION!r}), brokerkit.__version__)"
    )
    where = _run(installed, python, "-c", probe, cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    path, versions = where.stdout.splitlines()
    assert path.startswith(str(installed.parent))  # the wheel's brokerkit, not the worktree's
    installed_version, module_version = versions.split()
    assert installed_version == module_version == brokerkit.__version__
    demo = _run(installed, python, "-m", "brokerkit.demo", cwd=tmp_path)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "billing members shared 10 orders" in demo.stdout
    helped = _run(installed, python, "-m", "brokerkit.demo", "--help", cwd=tmp_path)
    assert helped.returncode == 0
    assert "usage:" in helped.stdout
    listed = _run(installed, str(installed / "brokerkit"), "backends", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^memory:// +installed", listed.stdout, re.M)
    redis_line = next(line for line in listed.stdout.splitlines() if line.startswith("redis://"))
    assert "unusable" in redis_line
    assert f"pip install '{DISTRIBUTION}[redis]'" in redis_line


def test_the_installed_wheel_runs_the_bench_without_matplotlib(
    installed: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bench"
    result = _run(
        installed,
        str(installed / "brokerkit"),
        "bench",
        "memory://",
        "--messages",
        "2000",
        "-o",
        str(out),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "max-throughput" in result.stdout
    assert f"pip install '{DISTRIBUTION}[plots]'" in result.stderr  # why there are no PNGs
    assert {p.name for p in out.iterdir()} == {"results.json", "results.csv", "results.md"}


def test_the_installed_wheel_runs_the_conformance_suite(installed: Path, tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "conftest.py").write_text('pytest_plugins = ["brokerkit.testing.plugin"]\n')
    (tests / "test_brokerkit_conformance.py").write_text(
        "from brokerkit.testing import AsyncSuite, MixedSuite, PropertySuite, SyncSuite\n\n\n"
        "class TestAsync(AsyncSuite): ...\n\n\nclass TestSync(SyncSuite): ...\n\n\n"
        "class TestMixed(MixedSuite): ...\n\n\nclass TestProperties(PropertySuite): ...\n"
    )
    # The command docs/testing.md gives, on memory:// (no --broker-url).
    result = _run(
        installed,
        str(installed / "python"),
        "-m",
        "pytest",
        "tests",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "asyncio_mode=auto",
        cwd=tmp_path,
        timeout=300,
    )
    tail = result.stdout.splitlines()[-1] if result.stdout else ""
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    passed = re.search(r"(\d+) passed", tail)
    assert passed is not None, tail
    assert int(passed.group(1)) >= 50, tail
    assert "failed" not in tail
    assert "error" not in tail
