"""connect() / connect_async(): URL -> options -> backend spec -> driver -> Broker."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, Unpack

from ._acompat import opened
from ._async.broker import AsyncBroker
from ._options import COMMON_OPTIONS, merge_options
from ._optiontypes import ConnectOptions
from ._registry import get_backend
from ._spec import BackendSpec, resolve_object
from ._sync.broker import Broker
from ._types import Capabilities
from ._url import BrokerURL, make_url
from .errors import BrokerError, ConfigurationError

DEFAULT_URL = "memory://"
URL_ENV = "BROKERKIT_URL"

log = logging.getLogger("brokerkit")
_said_default = False


def _default_url() -> str:
    """``$BROKERKIT_URL``, else memory:// (said once per process at INFO: an unset
    variable in a deployment should not go unnoticed)."""
    global _said_default
    url = os.environ.get(URL_ENV)
    if url:
        return url
    if not _said_default:
        _said_default = True
        log.info(
            "no broker URL given and $%s is not set: using %s, an in-process broker "
            "(messages stay in this process and are gone when it ends)",
            URL_ENV,
            DEFAULT_URL,
        )
    return DEFAULT_URL


def _prepare(
    url: str | BrokerURL | None, options: Mapping[str, Any]
) -> tuple[BrokerURL, BackendSpec, dict[str, Any], Capabilities]:
    if url is None:
        url = _default_url()
    parsed = make_url(url)
    try:
        spec = get_backend(parsed.scheme)
        if spec.default_port is not None and parsed.hosts:
            parsed = parsed.with_defaults(port=spec.default_port)
        schema = COMMON_OPTIONS.extend(*spec.options)
        opts = schema.resolve(parsed.query_dict, options, context=f"{spec.name} connection")
        caps = spec.capabilities(parsed, opts)
    except BrokerError as exc:
        if exc.url is None:
            exc.url = parsed.render()  # the password masked
        raise
    return parsed, spec, opts, caps


def connect(
    url: str | BrokerURL | None = None,
    *,
    backend_options: Mapping[str, Any] | None = None,
    **options: Unpack[ConnectOptions],
) -> Broker:
    """Connect to the broker named by ``url`` (default: ``$BROKERKIT_URL``, else
    ``memory://``) and return a sync :class:`Broker`. Options come from the URL query
    string and from keywords (keywords win); ``backend_options`` takes options the type
    checker does not know (a third-party backend's) as a mapping."""
    parsed, spec, opts, caps = _prepare(url, merge_options(options, backend_options))
    if spec.sync_driver is None:
        from ._portal import portal_driver_factory

        factory = portal_driver_factory(resolve_object(spec.async_driver))
    else:
        factory = resolve_object(spec.sync_driver)
    return opened(Broker(parsed, spec, opts, caps, factory))


def connect_async(
    url: str | BrokerURL | None = None,
    *,
    backend_options: Mapping[str, Any] | None = None,
    **options: Unpack[ConnectOptions],
) -> AsyncBroker:
    """Like :func:`connect`, for asyncio: ``await connect_async(url)`` or
    ``async with connect_async(url) as broker``."""
    parsed, spec, opts, caps = _prepare(url, merge_options(options, backend_options))
    factory = resolve_object(spec.async_driver)
    if not callable(factory):
        raise ConfigurationError(f"backend {spec.name!r}: async_driver is not callable")
    return AsyncBroker(parsed, spec, opts, caps, factory)
