"""The scheme -> BackendSpec registry: runtime registrations, built-ins, entry points."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from brokerkit import _registry
from brokerkit._registry import (
    BUILTIN_SPECS,
    PLANNED_BACKENDS,
    all_specs,
    available,
    builtin_schemes,
    get_backend,
    register_backend,
    unregister_backend,
)
from brokerkit._spec import BackendSpec, resolve_object
from brokerkit._types import Capabilities
from brokerkit.errors import ConfigurationError

TOY_SPEC = BackendSpec(
    name="toy",
    schemes=("toy",),
    capabilities=lambda url, opts: Capabilities(),
    async_driver=object,
)
NEEDY_SPEC = BackendSpec(
    name="needy",
    schemes=("needy",),
    capabilities=lambda url, opts: Capabilities(),
    async_driver=object,
    requires=("surely_not_installed_mod",),
    extra="needy",
)
KAFKA_SPEC = BackendSpec(
    name="kafka",
    schemes=("kafka",),
    capabilities=lambda url, opts: Capabilities(),
    async_driver=object,
)
#: A backend known by its spec alone: no other table names it.
ZEBRA_SPEC = BackendSpec(
    name="zebra",
    schemes=("zebra", "zebras"),
    capabilities=lambda url, opts: Capabilities(),
    async_driver=object,
    requires=("surely_not_installed_mod",),
    extra="zebra",
    default_port=7777,
    test_variants={"zebra": "zebra://127.0.0.1", "zebra-fast": "zebra://127.0.0.1?fast=1"},
)
NOT_A_SPEC = 42
# Entry points and lazy references name this module the way it was imported.
HERE = __name__


def _ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group="brokerkit.backends")


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    """Every test starts without runtime registrations and with fresh caches."""
    saved = dict(_registry._runtime)
    _registry._runtime.clear()
    _registry._clear_caches()
    yield
    _registry._runtime.clear()
    _registry._runtime.update(saved)
    _registry._clear_caches()


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> list[EntryPoint]:
    """The entry points the registry will see; append to the returned list."""
    eps: list[EntryPoint] = []

    def fake_entry_points(**params: Any) -> list[EntryPoint]:
        assert params == {"group": "brokerkit.backends"}
        return list(eps)

    monkeypatch.setattr(_registry, "entry_points", fake_entry_points)
    return eps


# --- runtime registrations ------------------------------------------------------------


def test_registered_spec_is_found_by_scheme(plugins: list[EntryPoint]) -> None:
    register_backend("toy", TOY_SPEC)
    assert get_backend("toy") is TOY_SPEC
    assert get_backend("TOY") is TOY_SPEC
    assert "toy" in available()
    unregister_backend("toy")
    with pytest.raises(ConfigurationError, match="unknown broker URL scheme 'toy'"):
        get_backend("toy")
    assert "toy" not in available()


def test_registered_lazy_string_is_resolved_and_cached(plugins: list[EntryPoint]) -> None:
    register_backend("toy", f"{HERE}:TOY_SPEC")
    assert get_backend("toy") is TOY_SPEC
    assert _registry._loaded["toy"] is TOY_SPEC
    assert get_backend("toy") is TOY_SPEC


def test_register_over_existing_needs_replace(plugins: list[EntryPoint]) -> None:
    register_backend("toy", TOY_SPEC)
    with pytest.raises(ConfigurationError, match="already provided by a runtime registration"):
        register_backend("toy", NEEDY_SPEC)
    register_backend("toy", NEEDY_SPEC, replace=True)
    assert _registry._runtime["toy"] is NEEDY_SPEC


def test_register_over_builtin_needs_replace(plugins: list[EntryPoint]) -> None:
    with pytest.raises(ConfigurationError, match="'memory' is already provided by a built-in"):
        register_backend("memory", TOY_SPEC)
    register_backend("memory", TOY_SPEC, replace=True)
    assert get_backend("memory") is TOY_SPEC
    unregister_backend("memory")
    assert get_backend("memory") is not TOY_SPEC
    assert get_backend("memory").name == "memory"


def test_register_rejects_bad_arguments() -> None:
    with pytest.raises(ConfigurationError, match="BackendSpec or a 'module:attr' string"):
        register_backend("toy", 42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="invalid URL scheme"):
        register_backend("no scheme", TOY_SPEC)


def test_unregister_unknown_raises() -> None:
    with pytest.raises(ConfigurationError, match="no runtime registration"):
        unregister_backend("memory")


def test_registered_string_that_is_not_a_spec(plugins: list[EntryPoint]) -> None:
    register_backend("toy", f"{HERE}:NOT_A_SPEC")
    with pytest.raises(ConfigurationError, match=r"is a int, not a brokerkit\.backends\."):
        get_backend("toy")


def test_registered_string_that_does_not_import(plugins: list[EntryPoint]) -> None:
    register_backend("toy", "surely_not_installed_mod:spec")
    with pytest.raises(
        ConfigurationError, match="cannot load the backend for scheme 'toy'"
    ) as info:
        get_backend("toy")
    assert isinstance(info.value.__cause__, ImportError)
    register_backend("toy", f"{HERE}:NO_SUCH_ATTR", replace=True)
    with pytest.raises(ConfigurationError, match="NO_SUCH_ATTR"):
        get_backend("toy")


# --- requirements ---------------------------------------------------------------------


def test_missing_requirement_gives_install_hint(plugins: list[EntryPoint]) -> None:
    register_backend("needy", NEEDY_SPEC)
    with pytest.raises(ConfigurationError) as info:
        get_backend("needy")
    assert str(info.value) == (
        "the needy backend needs the 'surely_not_installed_mod' package: "
        "pip install 'pybrokerkit[needy]'"
    )
    assert "needy" not in available()


def test_missing_requirement_without_extra(plugins: list[EntryPoint]) -> None:
    spec = BackendSpec(
        name="bare",
        schemes=("bare",),
        capabilities=lambda url, opts: Capabilities(),
        async_driver=object,
        requires=("surely_not_installed_mod.sub",),
    )
    register_backend("bare", spec)
    with pytest.raises(ConfigurationError, match=r"'surely_not_installed_mod\.sub' package"):
        get_backend("bare")


def test_installed_requirement_is_fine(plugins: list[EntryPoint]) -> None:
    spec = BackendSpec(
        name="fine",
        schemes=("fine",),
        capabilities=lambda url, opts: Capabilities(),
        async_driver=object,
        requires=("json", "importlib.metadata"),
    )
    register_backend("fine", spec)
    assert get_backend("fine") is spec


# --- entry points ---------------------------------------------------------------------


def test_entry_point_discovery(plugins: list[EntryPoint]) -> None:
    plugins.append(_ep("toy", f"{HERE}:TOY_SPEC"))
    assert get_backend("toy") is TOY_SPEC
    assert "toy" in available()


def test_entry_points_are_scanned_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def fake_entry_points(**params: Any) -> list[EntryPoint]:
        calls.append(params)
        return [_ep("toy", f"{HERE}:TOY_SPEC")]

    monkeypatch.setattr(_registry, "entry_points", fake_entry_points)
    for _ in range(3):
        assert get_backend("toy") is TOY_SPEC
        available()
    with pytest.raises(ConfigurationError):
        get_backend("nope")
    assert calls == [{"group": "brokerkit.backends"}]


def test_entry_point_cannot_shadow_a_builtin(plugins: list[EntryPoint]) -> None:
    plugins += [_ep("memory", f"{HERE}:TOY_SPEC"), _ep("toy", f"{HERE}:TOY_SPEC")]
    with pytest.warns(RuntimeWarning, match="'memory' is a built-in scheme") as record:
        assert get_backend("toy") is TOY_SPEC  # scans the entry points
    assert "replace=True" in str(record[0].message)
    spec = get_backend("memory")
    assert spec is not TOY_SPEC
    assert spec.name == "memory"


def test_entry_point_can_provide_a_planned_scheme(plugins: list[EntryPoint]) -> None:
    if not PLANNED_BACKENDS:
        pytest.skip("every planned backend is shipped")
    scheme = sorted(PLANNED_BACKENDS)[0]
    plugins.append(_ep(scheme, f"{HERE}:TOY_SPEC"))
    assert get_backend(scheme) is TOY_SPEC


def test_duplicate_entry_points_warn_and_keep_the_first(plugins: list[EntryPoint]) -> None:
    plugins += [_ep("toy", f"{HERE}:TOY_SPEC"), _ep("toy", f"{HERE}:NEEDY_SPEC")]
    with pytest.warns(RuntimeWarning, match="two brokerkit backend plugins claim the scheme 'toy'"):
        assert get_backend("toy") is TOY_SPEC


def test_broken_plugin_names_the_entry_point(plugins: list[EntryPoint]) -> None:
    plugins.append(_ep("broken", "surely_not_installed_mod.backend:spec"))
    with pytest.raises(ConfigurationError) as info:
        get_backend("broken")
    message = str(info.value)
    assert "plugin 'broken'" in message
    assert "broken = surely_not_installed_mod.backend:spec" in message
    assert "distribution" in message
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    assert "broken" not in available()


def test_plugin_that_is_not_a_spec(plugins: list[EntryPoint]) -> None:
    plugins.append(_ep("odd", f"{HERE}:NOT_A_SPEC"))
    with pytest.raises(ConfigurationError, match=r"not a brokerkit\.backends\.BackendSpec"):
        get_backend("odd")


def test_runtime_registration_wins_over_an_entry_point(plugins: list[EntryPoint]) -> None:
    plugins.append(_ep("toy", f"{HERE}:TOY_SPEC"))
    with pytest.raises(ConfigurationError, match="already provided by the plugin"):
        register_backend("toy", NEEDY_SPEC)
    spec = BackendSpec(
        name="mine", schemes=("toy",), capabilities=lambda u, o: Capabilities(), async_driver=object
    )
    register_backend("toy", spec, replace=True)
    assert get_backend("toy") is spec


# --- unknown and planned schemes -------------------------------------------------------


def test_unknown_scheme_suggests_and_lists(plugins: list[EntryPoint]) -> None:
    plugins.append(_ep("sqs", f"{HERE}:TOY_SPEC"))
    with pytest.raises(ConfigurationError) as info:
        get_backend("kafak")
    message = str(info.value)
    assert "unknown broker URL scheme 'kafak'; did you mean 'kafka'?" in message
    known = sorted({*builtin_schemes(), *PLANNED_BACKENDS, "sqs"})
    assert f"known schemes: {', '.join(known)} " in message


def test_unknown_scheme_without_suggestion(plugins: list[EntryPoint]) -> None:
    with pytest.raises(ConfigurationError) as info:
        get_backend("zzzzzzzz")
    assert "did you mean" not in str(info.value)
    assert "known schemes: " in str(info.value)


def test_a_planned_scheme_is_not_available_yet(
    plugins: list[EntryPoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every planned backend has shipped: play one that is only planned.
    monkeypatch.setitem(_registry.PLANNED_BACKENDS, "sqs", "sqs")
    _registry._clear_caches()
    with pytest.raises(ConfigurationError) as info:
        get_backend("sqs")
    message = str(info.value)
    assert message.startswith("the sqs backend is not available in this version of brokerkit yet")
    assert "'sqs' extra" in message
    assert "sqs" not in available()


def test_moving_a_planned_scheme_to_builtin(
    plugins: list[EntryPoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    # kafka has shipped: take the real spec out to play the planned -> built-in move
    shipped = [ref for ref in BUILTIN_SPECS if not ref.startswith("brokerkit.backends.kafka:")]
    monkeypatch.setattr(_registry, "BUILTIN_SPECS", [*shipped, f"{HERE}:KAFKA_SPEC"])
    _registry._clear_caches()
    assert get_backend("kafka") is KAFKA_SPEC


def test_non_str_scheme() -> None:
    with pytest.raises(ConfigurationError, match="a URL scheme is a str"):
        get_backend(None)  # type: ignore[arg-type]


# --- built-ins and available() --------------------------------------------------------


@pytest.mark.parametrize("ref", BUILTIN_SPECS)
def test_every_builtin_entry_imports(ref: str) -> None:
    """A built-in entry whose module is missing (a typo, a file not shipped) fails here:
    never skipped (nor left out of the list, as builtin_schemes() leaves it with a
    warning), or the table could name anything."""
    spec = resolve_object(ref)
    assert isinstance(spec, BackendSpec)
    for scheme in spec.schemes:
        assert builtin_schemes()[scheme] == ref


def test_a_missing_builtin_module_fails_the_import_check() -> None:
    with pytest.raises(ImportError):
        resolve_object("brokerkit.backends.no_such_backend:spec")


def test_memory_is_available_and_needs_nothing(plugins: list[EntryPoint]) -> None:
    spec = get_backend("memory")
    assert spec.requires == ()
    assert "memory" in available()


def test_available_is_sorted_and_never_raises(plugins: list[EntryPoint]) -> None:
    plugins += [_ep("broken", "surely_not_installed_mod:spec"), _ep("toy", f"{HERE}:TOY_SPEC")]
    register_backend("needy", NEEDY_SPEC)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        schemes = available()
    assert schemes == sorted(schemes)
    assert "toy" in schemes
    assert "broken" not in schemes
    assert "needy" not in schemes
    assert not set(schemes) & (set(PLANNED_BACKENDS) - set(builtin_schemes()))


def test_available_survives_a_failing_entry_point_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    def exploding(**params: Any) -> list[EntryPoint]:
        raise RuntimeError("metadata is broken")

    monkeypatch.setattr(_registry, "entry_points", exploding)
    with pytest.warns(RuntimeWarning, match="metadata is broken"):
        schemes = available()
    assert "memory" in schemes


def test_importing_the_registry_imports_no_client_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, brokerkit._registry, brokerkit._url, brokerkit._options\n"
        "bad = [m for m in ('redis', 'confluent_kafka', 'aio_pika', 'nats') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


# --- one place to register a backend: its spec --------------------------------------------


@pytest.mark.parametrize("how", ["builtin entry", "runtime registration"])
def test_a_backend_known_by_its_spec_alone_appears_everywhere(
    how: str, plugins: list[EntryPoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    if how == "builtin entry":
        monkeypatch.setattr(_registry, "BUILTIN_SPECS", [*BUILTIN_SPECS, f"{HERE}:ZEBRA_SPEC"])
        _registry._clear_caches()
        assert builtin_schemes()["zebras"] == f"{HERE}:ZEBRA_SPEC"
    else:
        register_backend("zebra", ZEBRA_SPEC)
        register_backend("zebras", ZEBRA_SPEC)
    # errors: "did you mean", and the list of known schemes
    with pytest.raises(ConfigurationError, match="did you mean 'zebra'") as info:
        get_backend("zebar")
    assert "zebras" in str(info.value)
    # install hints, from the spec's extra
    with pytest.raises(ConfigurationError) as info:
        get_backend("zebras")
    assert str(info.value) == (
        "the zebra backend needs the 'surely_not_installed_mod' package: "
        "pip install 'pybrokerkit[zebra]'"
    )
    # the conformance suite's variants (tests/conftest.py builds them from the specs)
    assert ZEBRA_SPEC in all_specs()
    import conftest

    found = conftest.variants()
    assert found["zebra"] == ("zebra://127.0.0.1", ZEBRA_SPEC)
    assert found["zebra-fast"] == ("zebra://127.0.0.1?fast=1", ZEBRA_SPEC)
    assert {"memory", "redis", "redis-pubsub"} <= set(found)


def test_install_hint_of_a_third_party_requirement() -> None:
    from dataclasses import replace

    from brokerkit._registry import install_hint

    assert install_hint(replace(ZEBRA_SPEC, extra="brokerkit-zebra[fast]")) == (
        "pip install 'brokerkit-zebra[fast]'"
    )
    assert install_hint(replace(ZEBRA_SPEC, extra=None)) == (
        "install the distribution that provides it"
    )


def test_memphis_installs_with_the_nats_extra(plugins: list[EntryPoint]) -> None:
    if "memphis" in builtin_schemes():
        spec = _registry._load("memphis")
        assert spec.extra == "nats"
    else:
        with pytest.raises(ConfigurationError, match="'nats' extra"):
            get_backend("memphis")


def test_the_spec_default_port_completes_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from brokerkit._api import _prepare

    register_backend("zebra", replace_requires(ZEBRA_SPEC))
    parsed, spec, _, _ = _prepare("zebra://h1,h2:1234", {})
    assert spec.name == "zebra"
    assert parsed.hosts == (("h1", 7777), ("h2", 1234))


def replace_requires(spec: BackendSpec) -> BackendSpec:
    from dataclasses import replace

    return replace(spec, requires=())
