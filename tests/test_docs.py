"""Every ```python example in README.md and docs/ runs against the installed package, the
docs site builds with ``mkdocs build --strict``, and generated doc tables are fresh.

An example runs as its own program, with the repository first on ``sys.path``. The brokers
it needs are found from its text: a ``redis://`` / ``amqp://`` / ``nats://`` /
``memphis://`` URL, or the raw client it imports (redis-py, aio-pika, nats-py); these are
the shared local brokers (CONTRIBUTING.md), and an example skips when its broker is down,
except under ``CI=true``, where that fails. Kafka examples name ``127.0.0.1:9092``, the
address a reader's Kafka has; the test points them at the session's Kafka instead (the
Tansu that the kafka spec's ``test_setup`` starts, or ``BROKERKIT_TEST_KAFKA_URL``) by
replacing that address in the program's text. A fence's info string may carry attributes
after ``python`` (```` ```python title="before.py" ````): it still runs.

The migration guides show "before" programs of libraries brokerkit does not depend on
(FastStream, Kombu): those examples run where the library is installed and skip, naming
it, where it is not, in CI too (they are not dependencies to install).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```python(?:[ \t][^\n]*)?\n(.*?)^```", re.S | re.M)

#: what the docs write for a reader's Kafka; replaced by the session's Kafka address
DOCS_KAFKA = "127.0.0.1:9092"

#: broker -> (how an example shows it needs it, its address)
BROKERS: dict[str, tuple[re.Pattern[str], tuple[str, int]]] = {
    "Redis": (
        re.compile(r"""["']rediss?://|^\s*(?:import|from) redis\b""", re.M),
        ("127.0.0.1", 6379),
    ),
    "RabbitMQ": (
        re.compile(r"""["']amqps?://|^\s*(?:import|from) (?:aio_pika|kombu)\b""", re.M),
        ("127.0.0.1", 5672),
    ),
    "NATS": (
        re.compile(r"""["'](?:nats|memphis)://|^\s*(?:import|from) nats\b""", re.M),
        ("127.0.0.1", 4222),
    ),
}
NEEDS_KAFKA = re.compile(r"""["']kafka://|^\s*(?:import|from) confluent_kafka\b""", re.M)

#: libraries shown for comparison only: an example importing one runs where it is installed
COMPARED_ONLY = ("faststream", "kombu")


def _examples() -> list[tuple[str, str]]:
    out = []
    for path in DOCS:
        for n, match in enumerate(FENCE.finditer(path.read_text()), 1):
            out.append((f"{path.relative_to(ROOT)}#{n}", match.group(1)))
    return out


def _reachable(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=2).close()
    except OSError:
        return False
    return True


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: a skipped example is a failed run)")
    pytest.skip(reason)


def _kafka_address(request: pytest.FixtureRequest) -> str:
    """host:port of the session's Kafka (started once, shared with the kafka tests)."""
    try:
        url: str = request.getfixturevalue("_variant_session").url("kafka")
    except (FileNotFoundError, RuntimeError) as exc:
        _unavailable(f"this example needs Kafka: {exc}")
    address = url.partition("://")[2].partition("?")[0].partition("/")[0]
    return address.rpartition("@")[2]


EXAMPLES = _examples()


@pytest.mark.parametrize("code", [c for _, c in EXAMPLES], ids=[n for n, _ in EXAMPLES])
def test_example_runs(code: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    for module in COMPARED_ONLY:
        if re.search(rf"^\s*(?:import|from) {module}\b", code, re.M):
            pytest.importorskip(
                module, reason=f"{module} is not installed (shown for comparison, not a dependency)"
            )
    for name, (pattern, address) in BROKERS.items():
        if pattern.search(code) and not _reachable(address):
            _unavailable(f"this example needs {name} on {address[0]}:{address[1]}")
    if NEEDS_KAFKA.search(code):
        code = code.replace(DOCS_KAFKA, _kafka_address(request))
    script = tmp_path / "example.py"
    script.write_text(code)
    env = {k: v for k, v in os.environ.items() if k != "BROKERKIT_URL"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr


def test_the_site_builds_strict(tmp_path: Path) -> None:
    """``mkdocs build --strict`` (mkdocs.yml): every page in the nav, every link and anchor
    resolves, the API reference renders from the docstrings; and the site adds no link
    outside the repository (the theme's footer link is off)."""
    if os.environ.get("CI") != "true":  # in CI the dev extra installed it: no skipping
        pytest.importorskip("mkdocs", reason="install the 'docs' extra to build the site")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (site / "index.html").exists()
    assert (site / "reference" / "broker" / "index.html").exists()
    reference = (site / "reference" / "connect" / "index.html").read_text()
    assert "connect_async" in reference  # rendered from the docstrings
    written = "\n".join(p.read_text() for p in DOCS)
    for page in site.rglob("*.html"):
        for url in re.findall(r'(?:href|src)="(https?://[^"]+)"', page.read_text()):
            assert url in written, f"{page.relative_to(site)} links outside: {url}"


def test_generated_tables_are_fresh() -> None:
    result = subprocess.run(
        [sys.executable, "tools/gen_docs.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_demo_runs_and_shows_the_flow() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "brokerkit.demo"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "BROKERKIT_URL"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "<Broker memory://>" in result.stdout
    assert "audit saw 10" in result.stdout
    assert "billing members shared 10 orders" in result.stdout


LINK_OUT = re.compile(r"\]\(\s*https?://|<https?://|href=[\"']https?://")


def test_the_docs_link_nowhere_outside_the_repository() -> None:
    """README, the guide, the changelog and docs/ speak of the project: every link they
    carry points into the repository (a page or a file), never to an outside site."""
    pages = [*DOCS, ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md"]
    outside = [
        f"{page.relative_to(ROOT)}:{n}: {line.strip()}"
        for page in pages
        for n, line in enumerate(page.read_text().splitlines(), 1)
        if LINK_OUT.search(line)
    ]
    assert not outside, "links outside the repository:\n" + "\n".join(outside)


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run ends with exactly the command the README gives newcomers to run the tests."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("**Run the tests**", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    command = block.strip().rsplit("&& ", 1)[1]
    ci = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln.strip()]
    assert ci[-1] == command, f".ci/run ends with {ci[-1]!r}, the README says {command!r}"
