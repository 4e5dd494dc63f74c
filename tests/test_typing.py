"""Typing a user can lean on: type checkers flag the mistakes users make with brokerkit,
accept (and run) what is right, and find every public symbol's type.

- ``mypy --strict`` (and pyright, where it runs) on a user's file with a mistake per line
  flags each of those lines, and nothing else; the messages name public types only.
- A correct user file passes clean under both, and runs.
- ``pyright --verifytypes brokerkit --ignoreexternal`` scores 100%.
- The TypedDicts of the keyword options list exactly the options of the run-time schemas
  (the shared ones and every built-in backend's), with matching types.
- ``backend_options={...}``, the escape for options the types do not list, is validated
  at run time like keywords.
"""

from __future__ import annotations

import builtins
import enum
import json
import os
import re
import subprocess
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import pytest

import brokerkit
from brokerkit._options import COMMON_OPTIONS, CONSUMER_OPTIONS, PRODUCER_OPTIONS, OptionSchema
from brokerkit._registry import BUILTIN_SPECS
from brokerkit._spec import BackendSpec, resolve_object

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI") == "true"

# -- the user's files ---------------------------------------------------------------------

#: One mistake per line marked ``# mistake``: each must be flagged on its own line. The
#: broker, producer and consumer come from correct calls, so that one mistake does not
#: hide the next (a call with a bad argument has an unknown result for pyright).
MISTAKES = """\
import brokerkit

broker = brokerkit.connect("memory://")
producer = broker.producer("t")
brokerkit.connect("memory://", conect_timeout=1)  # mistake: misspelt option
brokerkit.connect("memory://", connect_timeout="1")  # mistake: a str for a float
brokerkit.connect("redis://h", mode="pubsb")  # mistake: not one of the choices
broker.producer("t", guarantee="at-least-one")  # mistake: no such guarantee
broker.producer("t", linger=None)  # mistake: not nullable
producer.send_many([1, 2.5, object()])  # mistake: items are not messages
producer.send_many([(b"v", "k", {"h": 1})])  # mistake: a header value is not a str
producer.send_many(b"abc")  # mistake: bytes are not a batch
broker.consumer("t", gruop="g")  # mistake: misspelt option
broker.consumer("t", commit="eventually")  # mistake: no such commit mode
broker.consumer("t", prefetch="10")  # mistake: a str for an int
broker.consumer("t", on_commit_error=42)  # mistake: not a callable
brokerkit.Processor().run(topics="t", dead_leter_topic="d")  # mistake: misspelt option


async def main() -> None:
    abroker = await brokerkit.connect_async("memory://")
    aproducer = await abroker.producer("t")
    await brokerkit.connect_async("memory://", conect_timeout=1)  # mistake
    await abroker.producer("t", guarantee="exactly-once")  # mistake
    await aproducer.send_many([object()])  # mistake
    await abroker.consumer("t", gruop="g")  # mistake
"""

#: Everything here is right: it must type-check clean, and it runs (on memory://).
CORRECT = """\
import asyncio
from collections.abc import Iterator

import brokerkit
from brokerkit import Commit, Guarantee


def on_error(exc: BaseException) -> None:
    print("commit failed:", exc)


def values() -> Iterator[bytes]:
    yield b"g1"
    yield b"g2"


connect_options: brokerkit.ConnectOptions = {"connect_timeout": 5, "close_timeout": None}
consumer_options: brokerkit.ConsumerOptions = {"commit": "sync", "commit_every": 10}
batch: list[brokerkit.OutgoingMessage] = [b"a", "b", (b"c", "key"), (b"d", None, {"h": "v"})]

with brokerkit.connect("memory://typing", **connect_options) as broker:
    url: brokerkit.BrokerURL = broker.url
    backend: str = broker.backend
    caps: brokerkit.Capabilities = broker.capabilities
    resolved: dict[str, object] = broker.options
    with brokerkit.connect(url, reconnect_timeout=0.5, client_id="app"):
        pass
    with brokerkit.connect("memory://typing", backend_options={"connect_timeout": 2.0}):
        pass
    consumer = broker.consumer("orders", group="billing", **consumer_options)
    checked = broker.consumer(
        "orders",
        group="audit",
        guarantee="at-least-once",
        max_deliveries=3,
        dead_letter_topic="orders.dead",
        on_commit_error=on_error,
    )
    other = broker.consumer("orders", None, guarantee=Guarantee.AT_MOST_ONCE, commit=Commit.ASYNC)
    with broker.producer("orders", guarantee=Guarantee.AT_LEAST_ONCE, linger=0.01) as producer:
        topic: str = producer.topic
        guarantee: Guarantee = producer.guarantee
        producer.send(b"one", key="k", headers={"h": "v"})
        producer.send_many(batch)
        producer.send_many([b"x", b"y"])
        producer.send_many(["s1", "s2"])
        producer.send_many([(b"v", b"k"), (b"w", None)])
        producer.send_many(values())
        producer.send_many((b"t%d" % i, str(i)) for i in range(3))
        producer.flush(timeout=5)
    message = consumer.receive(timeout=1.0)
    assert message is not None
    value: bytes = message.value
    key: bytes | None = message.key
    message.ack()
    group: str | None = consumer.group
    mode: Commit = consumer.commit_mode
    consumer.close()
    checked.close()
    other.close()


def serve(processor: brokerkit.Processor) -> None:  # type-checked, not called
    processor.run(
        "memphis://127.0.0.1:4222",  # memphis consumers have a batch_size option
        topics=["a", "b"],
        group="g",
        batch_size=50,
        dead_letter_topic="dead",
        commit="sync",
        backend_options={"batch_size": 5},
    )


async def main() -> None:
    async with brokerkit.connect_async("memory://typing-async", connect_timeout=5) as abroker:
        aconsumer = await abroker.consumer("orders", group="g", commit="async", prefetch=10)
        async with abroker.producer("orders", guarantee="at-most-once") as aproducer:
            await aproducer.send_many([b"a", (b"b", "k")])
        amessage = await aconsumer.receive(timeout=1.0)
        assert amessage is not None
        await amessage.ack()
        await aconsumer.close()


asyncio.run(main())
print("ran")
"""


def _mistake_lines() -> set[int]:
    return {n for n, line in enumerate(MISTAKES.splitlines(), 1) if "# mistake" in line}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- mypy ---------------------------------------------------------------------------------


def _mypy(tmp_path: Path, file: Path) -> tuple[int, list[tuple[int, str, str]]]:
    """Run ``mypy --strict`` on ``file`` as a user would (no project config), importing
    brokerkit from this checkout; return the exit code and (line, severity, message)."""
    pytest.importorskip("mypy")
    env = {**os.environ, "MYPYPATH": str(ROOT)}  # this tree, not another installed copy
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--show-absolute-path",
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            str(file),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    found = []
    for line in result.stdout.splitlines():
        match = re.match(rf"{re.escape(str(file))}:(\d+): (error|note): (.*)", line)
        if match:
            found.append((int(match.group(1)), match.group(2), match.group(3)))
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 2: mypy crashed
    return result.returncode, found


#: The capitalised names a checker's message may show: brokerkit's public names, the
#: builtins and the typing constructs of the signatures.
_ALLOWED = {
    *brokerkit.__all__,
    *dir(builtins),
    *("Literal", "Mapping", "Iterable", "Iterator", "Callable", "Any", "Tuple", "Type"),
    *("Expected", "Got", "Following", "Dict", "List", "Argument", "Unexpected", "Type"),
    *("Tuple", "No"),
}


def _private_names(message: str) -> list[str]:
    """Names in a checker's message that the user cannot look up in brokerkit: a private
    module path, or a capitalised name that is not public (an internal alias)."""
    text = re.sub(r"'[^']*'", "", message)  # literal values ('at-least-one') are data
    bad = re.findall(r"brokerkit\._\w+", text)
    bad += [n for n in re.findall(r"\b[A-Z]\w*", text) if n not in _ALLOWED]
    return bad


def test_mypy_flags_each_mistake_on_its_line(tmp_path: Path) -> None:
    code, found = _mypy(tmp_path, _write(tmp_path, "mistakes.py", MISTAKES))
    errors = {line for line, severity, _ in found if severity == "error"}
    expected = _mistake_lines()
    assert code == 1
    assert errors == expected, (
        f"not flagged: {sorted(expected - errors)}; flagged but correct: "
        f"{sorted(errors - expected)}\n" + "\n".join(f"{n}: {m}" for n, _, m in found)
    )
    messages = [m for _, severity, m in found if severity == "error"]
    private = {m: _private_names(m) for m in messages if _private_names(m)}
    assert not private, f"messages name non-public types: {private}"
    text = "\n".join(messages)
    # What each kind of mistake says, in public terms:
    assert 'Unexpected keyword argument "conect_timeout" for "connect"' in text
    assert 'did you mean "connect_timeout"' in text
    assert (
        'Unexpected keyword argument "gruop" for "consumer" of "Broker"; did you mean "group"?'
        in (text)
    )
    assert "expected \"Literal['at-least-once', 'at-most-once'] | Guarantee\"" in text
    assert "expected \"Literal['sync', 'async'] | Commit\"" in text
    assert 'of "AsyncBroker"' in text
    assert 'to "send_many" of "Producer"' in text


def test_a_correct_user_file_type_checks_clean_and_runs(tmp_path: Path) -> None:
    file = _write(tmp_path, "correct.py", CORRECT)
    code, found = _mypy(tmp_path, file)
    assert not found, "\n".join(f"{n}: {s}: {m}" for n, s, m in found)
    assert code == 0
    env = {k: v for k, v in os.environ.items() if k != "BROKERKIT_URL"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    ran = subprocess.run(
        [sys.executable, str(file)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.strip() == "ran"


# -- pyright ------------------------------------------------------------------------------


#: No "a newer pyright exists" notice in the output that is parsed.
PYRIGHT_ENV = {**os.environ, "PYRIGHT_PYTHON_IGNORE_WARNINGS": "1"}


@cache
def _pyright_problem() -> str | None:
    """Why pyright cannot run here (None: it can). The pyright package fetches its node
    runtime on first use, which needs the npm registry."""
    try:
        import pyright  # noqa: F401
    except ImportError:
        return "pyright is not installed (it is in the dev extra)"
    try:
        probe = subprocess.run(
            [sys.executable, "-m", "pyright", "--version"],
            env=PYRIGHT_ENV,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired:
        return "pyright --version did not answer within 600 s (fetching node?)"
    if probe.returncode != 0 or "pyright" not in probe.stdout:
        return f"pyright cannot run: {(probe.stdout + probe.stderr).strip()[-500:]}"
    return None


def _need_pyright() -> None:
    problem = _pyright_problem()
    if problem is None:
        return
    if IN_CI:
        pytest.fail(f"{problem}; in CI (CI=true) pyright must run")
    pytest.skip(problem)


def _pyright(tmp_path: Path, file: Path) -> dict[str, Any]:
    _need_pyright()
    # extraPaths: import brokerkit from this checkout, not another installed copy.
    (tmp_path / "pyrightconfig.json").write_text(
        json.dumps(
            {"extraPaths": [str(ROOT)], "pythonVersion": "3.11", "typeCheckingMode": "strict"}
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pyright", "--outputjson", str(file)],
        cwd=tmp_path,
        env=PYRIGHT_ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.mark.timeout(900)
def test_pyright_flags_each_mistake_on_its_line(tmp_path: Path) -> None:
    report = _pyright(tmp_path, _write(tmp_path, "mistakes.py", MISTAKES))
    diagnostics = [d for d in report["generalDiagnostics"] if d["severity"] == "error"]
    errors = {d["range"]["start"]["line"] + 1 for d in diagnostics}
    expected = _mistake_lines()
    shown = "\n".join(f"{d['range']['start']['line'] + 1}: {d['message']}" for d in diagnostics)
    assert errors == expected, (
        f"not flagged: {sorted(expected - errors)}; flagged but correct: "
        f"{sorted(errors - expected)}\n{shown}"
    )
    private = {d["message"]: _private_names(d["message"]) for d in diagnostics}
    private = {m: names for m, names in private.items() if names}
    assert not private, f"messages name non-public types: {private}"


@pytest.mark.timeout(900)
def test_pyright_strict_accepts_a_correct_user_file(tmp_path: Path) -> None:
    report = _pyright(tmp_path, _write(tmp_path, "correct.py", CORRECT))
    problems = [d for d in report["generalDiagnostics"] if d["severity"] == "error"]
    assert not problems, "\n".join(
        f"{d['range']['start']['line'] + 1}: {d['message']}" for d in problems
    )


@pytest.mark.timeout(900)
def test_pyright_verifytypes_scores_100_percent() -> None:
    _need_pyright()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyright",
            "--verifytypes",
            "brokerkit",
            "--ignoreexternal",
            "--outputjson",
        ],
        cwd=ROOT,  # the execution root: pyright resolves brokerkit to this checkout
        env=PYRIGHT_ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(result.stdout)
    completeness = report["typeCompleteness"]
    assert completeness["packageRootDirectory"] == str(ROOT / "brokerkit")
    missing = [
        f"{symbol['name']}: {diag['message'].splitlines()[0]}"
        for symbol in completeness["symbols"]
        for diag in symbol.get("diagnostics", [])
        if diag["severity"] == "error"
    ]
    assert completeness["completenessScore"] == 1, (
        f"type completeness {completeness['completenessScore']:.1%}; symbols to annotate:\n"
        + "\n".join(missing[:50])
    )


# -- the option TypedDicts follow the run-time schemas -----------------------------------


def _builtin_specs() -> list[BackendSpec]:
    specs: dict[str, BackendSpec] = {}
    for ref in BUILTIN_SPECS:
        spec = resolve_object(ref)
        specs.setdefault(spec.name, spec)
    return list(specs.values())


def _schemas(which: str) -> list[OptionSchema]:
    base = {"connect": COMMON_OPTIONS, "producer": PRODUCER_OPTIONS, "consumer": CONSUMER_OPTIONS}
    attr = {"connect": "options", "producer": "producer_options", "consumer": "consumer_options"}
    return [base[which], *(getattr(spec, attr[which]) for spec in _builtin_specs())]


def _atoms_of_hint(hint: Any) -> set[Any]:
    """A type as a set of what it accepts: classes, None, and ("=", value) literals."""
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_atoms_of_hint(arg) for arg in get_args(hint)))
    if origin is Literal:
        return {("=", value) for value in get_args(hint)}
    if hint is type(None) or hint is None:
        return {None}
    return {origin or hint}


def _atoms_of_option(schemas: list[OptionSchema], name: str) -> set[Any]:
    atoms: set[Any] = set()
    for schema in schemas:
        if name not in schema:
            continue
        option = schema.get(name)
        if option.choices is not None:
            atoms |= {("=", choice) for choice in option.choices}
        elif isinstance(option.kind, type) and issubclass(option.kind, enum.Enum):
            atoms |= {option.kind, *(("=", member.value) for member in option.kind)}
        else:
            atoms.add(option.kind)
        if option.nullable:
            atoms.add(None)
    return atoms


#: Keyword-only Python objects: the TypedDict says what they must be.
OBJECT_OPTIONS = {
    ("connect", "topic_config"): {Mapping, None},
    ("connect", "client_options"): {Mapping, None},
    ("consumer", "on_commit_error"): {Callable, None},
    ("connect", "instrumentation"): {brokerkit.Instrumentation, Sequence, None},
}


@pytest.mark.parametrize(
    ("which", "typed"),
    [
        ("connect", brokerkit.ConnectOptions),
        ("producer", brokerkit.ProducerOptions),
        ("consumer", brokerkit.ConsumerOptions),
        ("processor", brokerkit.ProcessorOptions),
    ],
)
def test_option_typeddicts_match_the_schemas(which: str, typed: type) -> None:
    schemas = _schemas("consumer" if which == "processor" else which)
    names = {option.name for schema in schemas for option in schema}
    if which == "processor":
        names.discard("batch_size")  # Processor.run's own parameter
    hints = get_type_hints(typed)
    assert set(hints) == names, (
        f"brokerkit.{typed.__name__} (brokerkit/_optiontypes.py) lacks "
        f"{sorted(names - set(hints))} and has no option {sorted(set(hints) - names)}"
    )
    assert not getattr(typed, "__required_keys__", set()), "every option is optional"
    for name, hint in hints.items():
        got = _atoms_of_hint(hint)
        kind = "consumer" if which == "processor" else which
        want = OBJECT_OPTIONS.get((kind, name)) or _atoms_of_option(schemas, name)
        assert got == want, f"{typed.__name__}[{name!r}] is {hint}; the schemas accept {want}"


# -- backend_options: the escape for options the types do not list ------------------------


def test_backend_options_are_validated_like_keywords() -> None:
    with brokerkit.connect("memory://typing-escape", backend_options={"close_timeout": 3}) as b:
        assert b.options["close_timeout"] == 3.0
        with b.producer("t", backend_options={"linger": "0.5"}) as producer:
            assert producer._linger == 0.5  # coerced like a URL value
        with b.consumer("t", group="g", backend_options={"commit": "sync"}) as consumer:
            assert consumer.commit_mode is brokerkit.Commit.SYNC
        with pytest.raises(brokerkit.ConfigurationError, match="did you mean 'commit'"):
            b.consumer("t", backend_options={"comit": "sync"})
        with pytest.raises(
            brokerkit.ConfigurationError, match=r"'prefetch'.*give each option once"
        ):
            b.consumer("t", prefetch=1, backend_options={"prefetch": 2})
        with pytest.raises(brokerkit.ConfigurationError, match="takes a mapping"):
            b.producer("t", backend_options=[("linger", 1)])  # type: ignore[arg-type]
        with pytest.raises(brokerkit.ConfigurationError, match="option names are strings"):
            b.producer("t", backend_options={1: 2})  # type: ignore[dict-item]
    with pytest.raises(brokerkit.ConfigurationError, match="unknown option 'visibility'"):
        brokerkit.connect("memory://", backend_options={"visibility": 30})


async def test_backend_options_on_the_async_api() -> None:
    async with brokerkit.connect_async(
        "memory://typing-escape-async", backend_options={"close_timeout": 3}
    ) as broker:
        assert broker.options["close_timeout"] == 3.0
        async with broker.consumer("t", backend_options={"prefetch": 7}) as consumer:
            assert consumer._prefetch == 7
        with pytest.raises(brokerkit.ConfigurationError, match="did you mean 'guarantee'"):
            await broker.producer("t", backend_options={"guarantees": "at-most-once"})
