"""Every ```python example in README.md and docs/ runs, and generated doc tables are fresh."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import brokerkit

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
NEEDS_REDIS = re.compile(r"""connect(?:_async)?\(\s*["']rediss?://""")


def _examples() -> list[tuple[str, str]]:
    out = []
    for path in DOCS:
        for n, match in enumerate(FENCE.finditer(path.read_text()), 1):
            out.append((f"{path.relative_to(ROOT)}#{n}", match.group(1)))
    return out


def _redis_up() -> bool:
    if "redis" not in brokerkit.available():
        return False
    try:
        brokerkit.connect("redis://127.0.0.1:6379/0", connect_timeout=2).close()
    except brokerkit.BrokerError:
        return False
    return True


EXAMPLES = _examples()


@pytest.mark.parametrize("code", [c for _, c in EXAMPLES], ids=[n for n, _ in EXAMPLES])
def test_example_runs(code: str, tmp_path: Path) -> None:
    if NEEDS_REDIS.search(code) and not _redis_up():
        if os.environ.get("CI") == "true":
            pytest.fail("this example needs Redis on 127.0.0.1:6379, which is not reachable")
        pytest.skip("needs Redis on 127.0.0.1:6379")
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
