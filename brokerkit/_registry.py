"""URL scheme -> :class:`~brokerkit.backends.BackendSpec`.

A backend is registered in ONE place: its :class:`BackendSpec` (schemes, default port, the
pip extra that installs it, options, capabilities, drivers, conformance-test variants and
cleanup, bench baseline). Shipping a built-in backend is one package plus one entry in
:data:`BUILTIN_SPECS`; everything else (its schemes here, install hints, "did you mean",
the test variants, the bench baseline) is read from the spec.

Lookup order (as SQLAlchemy's ``PluginLoader``):

1. runtime registrations (:func:`register_backend`, for tests and conftest files);
2. the schemes of the built-in specs :data:`BUILTIN_SPECS` (lazy ``"module:attr"``);
3. the ``brokerkit.backends`` entry points of installed distributions, scanned once.
   An entry point cannot shadow a built-in scheme: it is ignored with a warning.

Schemes in :data:`PLANNED_BACKENDS` are known but not shipped yet; asking for one says so.
Nothing here imports a client library: a spec module never does, a spec lists the modules
it ``requires`` and a missing one becomes a :class:`ConfigurationError` with a
``pip install`` hint at connect time, never at ``import brokerkit``.
"""

from __future__ import annotations

import difflib
import importlib.util
import re
import threading
import warnings
from importlib.metadata import EntryPoint, entry_points

from ._dist import pip_install
from ._spec import BackendSpec, resolve_object
from .errors import ConfigurationError

__all__ = [
    "BUILTIN_SPECS",
    "ENTRY_POINT_GROUP",
    "PLANNED_BACKENDS",
    "all_specs",
    "available",
    "builtin_schemes",
    "get_backend",
    "install_hint",
    "register_backend",
    "unregister_backend",
]

ENTRY_POINT_GROUP = "brokerkit.backends"

#: The backends shipped with brokerkit: lazy ``"module:attr"`` references to their
#: BackendSpec, in the order they are listed (and tested). Their schemes come from the specs.
BUILTIN_SPECS: list[str] = [
    "brokerkit.backends.memory:spec",
    "brokerkit.backends.kafka:spec",
    "brokerkit.backends.redis:spec",
    "brokerkit.backends.nats:spec",
    "brokerkit.backends.memphis:spec",
    "brokerkit.backends.amqp:spec",
]

#: Schemes whose backend is not shipped yet -> the pip extra that will bring it. A scheme
#: of a built-in spec wins over this table, so shipping one needs no edit here.
PLANNED_BACKENDS: dict[str, str] = {}

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")

_lock = threading.RLock()
_runtime: dict[str, BackendSpec | str] = {}
_loaded: dict[str, BackendSpec] = {}
"""Specs resolved from strings (runtime registrations and built-ins), by scheme."""
_plugins: dict[str, EntryPoint] | None = None
"""The entry points by scheme, once scanned."""
_builtins: dict[str, str] | None = None
"""Scheme -> reference of its built-in spec, once the built-in specs were read."""


def builtin_schemes() -> dict[str, str]:
    """Every scheme of a built-in backend -> the ``"module:attr"`` of its spec (read from
    the specs in :data:`BUILTIN_SPECS`; a spec module never imports a client library)."""
    global _builtins
    with _lock:
        if _builtins is not None:
            return _builtins
        found: dict[str, str] = {}
        for ref in BUILTIN_SPECS:
            try:
                spec = resolve_object(ref)
            except Exception as exc:
                warnings.warn(
                    f"cannot read the built-in backend spec {ref!r}: {exc}",
                    RuntimeWarning,
                    stacklevel=2,
                )
                continue
            if isinstance(spec, BackendSpec):
                for scheme in spec.schemes:
                    found.setdefault(scheme.lower(), ref)
        _builtins = found
        return found


def install_hint(spec: BackendSpec) -> str:
    """How to install what ``spec`` needs: ``pip install 'pybrokerkit[<extra>]'`` (a bare
    extra name), ``pip install '<requirement>'`` (an extra written as a requirement, as a
    third-party backend would: ``"brokerkit-sqs[boto]"``), else a generic sentence."""
    extra = spec.extra
    if not extra:
        return "install the distribution that provides it"
    if re.fullmatch(r"[A-Za-z0-9_-]+", extra):
        return pip_install(extra)
    return f"pip install '{extra}'"


def all_specs() -> list[BackendSpec]:
    """Every backend spec brokerkit can load (built-in, runtime, plugins), each once, in
    that order, whether or not its client library is installed. Never raises."""
    out: list[BackendSpec] = []
    seen: set[int] = set()
    try:
        with _lock:
            schemes = [*builtin_schemes(), *_runtime, *_scan_plugins()]
    except Exception:
        return out
    for scheme in schemes:
        try:
            spec = _load(scheme)
        except Exception:
            continue
        if id(spec) not in seen:
            seen.add(id(spec))
            out.append(spec)
    return out


def register_backend(scheme: str, spec: BackendSpec | str, *, replace: bool = False) -> None:
    """Make ``scheme`` use ``spec`` (a BackendSpec or a lazy ``"module:attr"`` string).

    Registering over a built-in, plugin or already registered scheme needs
    ``replace=True``; a string is only imported when the scheme is first used.
    """
    key = _normalize(scheme)
    if not isinstance(spec, BackendSpec | str):
        raise ConfigurationError(
            f"register_backend({scheme!r}, ...) takes a BackendSpec or a 'module:attr' "
            f"string, got {type(spec).__name__}"
        )
    with _lock:
        if not replace:
            owner = _owner(key)
            if owner is not None:
                raise ConfigurationError(
                    f"scheme {key!r} is already provided by {owner}; pass replace=True "
                    f"to register_backend() to override it"
                )
        _runtime[key] = spec
        _loaded.pop(key, None)


def unregister_backend(scheme: str) -> None:
    """Remove a runtime registration made with :func:`register_backend`."""
    key = _normalize(scheme)
    with _lock:
        if key not in _runtime:
            raise ConfigurationError(
                f"scheme {key!r} has no runtime registration to remove (built-in and plugin "
                f"backends cannot be unregistered)"
            )
        del _runtime[key]
        _loaded.pop(key, None)


def get_backend(scheme: str) -> BackendSpec:
    """The BackendSpec for ``scheme``, checked to be usable (its client library is installed).

    Raises :class:`ConfigurationError` for an unknown or planned scheme, a plugin that fails
    to load, or a missing client library (with the ``pip install`` command to fix it).
    """
    if not isinstance(scheme, str):
        raise ConfigurationError(f"a URL scheme is a str, got {type(scheme).__name__}")
    spec = _load(scheme.lower())
    _check_requires(spec)
    return spec


def available() -> list[str]:
    """The sorted schemes usable now: the spec loads and its required modules import.

    Never raises.
    """
    try:
        with _lock:
            schemes = set(_runtime) | set(builtin_schemes()) | set(_scan_plugins())
    except Exception:
        return []
    usable = []
    for scheme in sorted(schemes):
        try:
            get_backend(scheme)
        except Exception:
            continue
        usable.append(scheme)
    return usable


def known_schemes() -> list[str]:
    """Every scheme brokerkit knows of, usable or not (built-in, planned, plugins, runtime)."""
    with _lock:
        return sorted(
            set(_runtime) | set(builtin_schemes()) | set(PLANNED_BACKENDS) | set(_scan_plugins())
        )


def _normalize(scheme: str) -> str:
    if not isinstance(scheme, str) or not _SCHEME.fullmatch(scheme.lower()):
        raise ConfigurationError(
            f"invalid URL scheme {scheme!r}: use a letter followed by letters, digits, '+', '-' "
            f"or '.'"
        )
    return scheme.lower()


def _owner(key: str) -> str | None:
    """Who already provides ``key``, in words, or None."""
    if key in _runtime:
        return "a runtime registration"
    if key in builtin_schemes():
        return "a built-in backend"
    ep = _scan_plugins().get(key)
    if ep is not None:
        return f"the plugin {ep.value!r} from {_dist_name(ep)}"
    return None


def _load(key: str) -> BackendSpec:
    with _lock:
        if key in _loaded:
            return _loaded[key]
        if key in _runtime:
            ref = _runtime[key]
            spec = _check_spec(key, _resolve(key, ref, "the runtime registration"), ref)
        elif key in builtin_schemes():
            ref = builtin_schemes()[key]
            spec = _check_spec(key, _resolve(key, ref, "the built-in backend"), ref)
        else:
            ep = _scan_plugins().get(key)
            if ep is None:
                raise _unknown(key)
            spec = _check_spec(key, _load_plugin(ep), f"entry point {ep.name} = {ep.value}")
        _loaded[key] = spec
        return spec


def _resolve(key: str, ref: BackendSpec | str, what: str) -> object:
    if not isinstance(ref, str):
        return ref
    try:
        return resolve_object(ref)
    except ImportError as exc:
        raise ConfigurationError(
            f"cannot load the backend for scheme {key!r} from {ref!r} ({what}): {exc}"
        ) from exc
    except (AttributeError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot load the backend for scheme {key!r} from {ref!r} ({what}): {exc}"
        ) from exc


def _check_spec(key: str, obj: object, source: object) -> BackendSpec:
    if not isinstance(obj, BackendSpec):
        raise ConfigurationError(
            f"the backend for scheme {key!r} ({source}) is a {type(obj).__name__}, "
            f"not a brokerkit.backends.BackendSpec"
        )
    return obj


def _check_requires(spec: BackendSpec) -> None:
    for module in spec.requires:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise ConfigurationError(
                f"the {spec.name} backend needs the {module!r} package: {install_hint(spec)}",
                backend=spec.name,
            )


def _unknown(key: str) -> ConfigurationError:
    if key in PLANNED_BACKENDS:
        usable = ", ".join(available()) or "(none)"
        return ConfigurationError(
            f"the {key} backend is not available in this version of brokerkit yet "
            f"(it will come with the {PLANNED_BACKENDS[key]!r} extra); available schemes: "
            f"{usable}",
            backend=key,
        )
    known = known_schemes()
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ";"
    return ConfigurationError(
        f"unknown broker URL scheme {key!r}{hint} known schemes: {', '.join(known)} "
        f"(third-party backends register under the {ENTRY_POINT_GROUP!r} entry-point group)"
    )


def _dist_name(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    name = getattr(dist, "name", None) if dist is not None else None
    return f"distribution {name!r}" if name else "an unknown distribution"


def _load_plugin(ep: EntryPoint) -> object:
    try:
        return ep.load()
    except Exception as exc:
        raise ConfigurationError(
            f"cannot load the brokerkit backend plugin {ep.name!r} (entry point "
            f"{ep.name} = {ep.value} in {_dist_name(ep)}): {type(exc).__name__}: {exc}"
        ) from exc


def _scan_plugins() -> dict[str, EntryPoint]:
    """The ``brokerkit.backends`` entry points by scheme, scanned once (call under _lock)."""
    global _plugins
    if _plugins is not None:
        return _plugins
    found: dict[str, EntryPoint] = {}
    try:
        eps = list(entry_points(group=ENTRY_POINT_GROUP))
    except Exception as exc:
        warnings.warn(f"cannot list brokerkit backend plugins: {exc}", RuntimeWarning, stacklevel=3)
        eps = []
    for ep in eps:
        key = ep.name.lower()
        if key in builtin_schemes():
            warnings.warn(
                f"ignoring the brokerkit backend plugin {ep.name} = {ep.value} from "
                f"{_dist_name(ep)}: {key!r} is a built-in scheme (use "
                f"brokerkit.register_backend({key!r}, ..., replace=True) to override it)",
                RuntimeWarning,
                stacklevel=3,
            )
            continue
        if key in found:
            warnings.warn(
                f"two brokerkit backend plugins claim the scheme {key!r}: {found[key].value} "
                f"from {_dist_name(found[key])} and {ep.value} from {_dist_name(ep)}; "
                f"using the first",
                RuntimeWarning,
                stacklevel=3,
            )
            continue
        found[key] = ep
    _plugins = found
    return found


def _clear_caches() -> None:
    """Forget the loaded specs, the built-in schemes and the entry-point scan (for tests)."""
    global _plugins, _builtins
    with _lock:
        _loaded.clear()
        _plugins = None
        _builtins = None
