"""Broker URLs: parsing, rendering with the password masked, and defaults.

Accepted form::

    scheme://[user[:password]@]host[:port][,host[:port]...][/path][?query]

``user`` and ``password`` are percent-decoded; IPv6 hosts go in brackets (``[::1]:6379``);
``memory://`` has no host and ``memory://name`` names an in-process broker. The password
never appears in ``repr()``, ``str()`` or an error message: only
``render(hide_password=False)`` prints it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, unquote_plus

from .errors import ConfigurationError, scrub

__all__ = ["BrokerURL", "make_url"]

_FORM = "scheme://[user[:password]@]host[:port][,host[:port]...][/path][?query]"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_MASK = "***"

Host = tuple[str, int | None]


@dataclass(frozen=True)
class BrokerURL:
    """An immutable, parsed broker URL. Build one with :func:`make_url`."""

    scheme: str
    hosts: tuple[Host, ...] = ()
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    path: str = ""
    """The path without its leading "/": "0" for a Redis db, the vhost for AMQP, "" if none."""
    query: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "scheme", self.scheme.lower())
        object.__setattr__(self, "hosts", tuple((h, p) for h, p in self.hosts))
        object.__setattr__(self, "query", tuple((k, v) for k, v in self.query))

    @property
    def query_dict(self) -> dict[str, str]:
        """The query string as a dict (keys are unique, :func:`make_url` makes sure)."""
        return dict(self.query)

    @property
    def host(self) -> str:
        """The first host name, or "" when the URL has none."""
        return self.hosts[0][0] if self.hosts else ""

    @property
    def port(self) -> int | None:
        """The first port, or None when the URL has none."""
        return self.hosts[0][1] if self.hosts else None

    def render(self, hide_password: bool = True) -> str:
        """The URL as a string; the password is shown as ``***`` unless ``hide_password=False``."""
        userinfo = ""
        if self.username is not None or self.password is not None:
            userinfo = quote(self.username or "", safe="")
            if self.password is not None:
                shown = _MASK if hide_password else quote(self.password, safe="")
                userinfo += ":" + shown
            userinfo += "@"
        text = f"{self.scheme}://{userinfo}{','.join(self.endpoints())}"
        if self.path:
            text += "/" + quote(self.path, safe="")
        if self.query:
            text += "?" + "&".join(
                f"{quote(k, safe='')}={quote(v, safe=',:')}" for k, v in self.query
            )
        return text

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"BrokerURL({self.render()!r})"

    def endpoints(self) -> list[str]:
        """``"host:port"`` for every host (IPv6 in brackets), for messages and clients."""
        out = []
        for host, port in self.hosts:
            name = f"[{host}]" if ":" in host else host
            out.append(name if port is None else f"{name}:{port}")
        return out

    def with_defaults(self, port: int | None = None, host: str | None = None) -> BrokerURL:
        """A copy where every host entry lacking a port/host gets ``port``/``host``.

        A URL without any host gets a single ``(host, port)`` entry when ``host`` is given.
        """
        if not self.hosts:
            hosts: tuple[Host, ...] = ((host, port),) if host is not None else ()
        else:
            hosts = tuple((h or (host or ""), p if p is not None else port) for h, p in self.hosts)
        return dataclasses.replace(self, hosts=hosts)

    def without_query(self) -> BrokerURL:
        """A copy without the query string (options live elsewhere once resolved)."""
        return dataclasses.replace(self, query=())


def make_url(url: str | BrokerURL) -> BrokerURL:
    """Parse ``url`` (see the module docstring); a :class:`BrokerURL` is returned as is.

    Raises :class:`ConfigurationError` saying what is wrong and what is accepted; the
    password never appears in the message.
    """
    if isinstance(url, BrokerURL):
        return url
    if not isinstance(url, str):
        raise ConfigurationError(
            f"a broker URL must be a str or a brokerkit.BrokerURL, got {type(url).__name__}; "
            f"expected {_FORM}"
        )
    return _Parser(url.strip()).parse()


class _Parser:
    """One parse of one URL string; knows how to report errors without the password."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.secrets: list[str] = []

    def fail(self, reason: str) -> ConfigurationError:
        shown, candidate = _mask_userinfo(self.text)
        if candidate and not self.secrets:
            # Something like a password was not recognised as one (a raw "?" or "#" in
            # it?): the specific reason could quote a piece of it, so give a generic one.
            reason = (
                "cannot tell the credentials from the host; percent-encode '/', '?', '#', "
                "'@' and ':' in the user name and password"
            )
        pieces = [p for p in re.split(r"[/?#@]", candidate) if len(p) >= 3]
        message = scrub(f"invalid broker URL {shown!r}: {reason}", [*self.secrets, *pieces])
        return ConfigurationError(f"{message}; expected {_FORM}")

    def parse(self) -> BrokerURL:
        text = self.text
        if not text:
            raise self.fail("the URL is empty (e.g. 'redis://localhost:6379/0' or 'memory://')")
        scheme, sep, rest = text.partition("://")
        if not sep:
            raise self.fail("missing '://' after the scheme (e.g. 'kafka://localhost:9092')")
        if not _SCHEME.fullmatch(scheme):
            raise self.fail(f"{scheme!r} is not a valid scheme (letters, digits, '+', '-', '.')")
        if "#" in rest:
            raise self.fail("a '#fragment' is not allowed (write '#' in a password as %23)")
        if any(c.isspace() for c in rest):
            raise self.fail("whitespace is not allowed inside a URL (percent-encode it)")
        # The query starts at the first "?"; the credentials end at the last "@" before it,
        # so a password with a raw "/" or "@" still parses (percent-encoding is better).
        rest, _, query_text = rest.partition("?")
        userinfo, at, after = rest.rpartition("@")
        hostinfo, slash, path_text = after.partition("/")
        username: str | None = None
        password: str | None = None
        if at:
            user_raw, colon, pass_raw = userinfo.partition(":")
            if colon:
                self.secrets += [pass_raw, unquote(pass_raw)]
                password = unquote(pass_raw)
            username = unquote(user_raw) or None
        hosts = self._hosts(hostinfo)
        path = unquote(path_text) if slash else ""
        query = self._query(query_text)
        return BrokerURL(scheme.lower(), hosts, username, password, path, query)

    def _hosts(self, hostinfo: str) -> tuple[Host, ...]:
        if not hostinfo:
            return ()
        parts = hostinfo.split(",")
        hosts = []
        for part in parts:
            if not part:
                raise self.fail(
                    f"empty host in the host list {hostinfo!r} (write 'h1:port,h2:port')"
                )
            hosts.append(self._host(part, single=len(parts) == 1))
        return tuple(hosts)

    def _host(self, part: str, *, single: bool) -> Host:
        if part.startswith("["):
            end = part.find("]")
            if end < 0:
                raise self.fail(f"unclosed '[' in host {part!r} (IPv6 is written '[::1]:6379')")
            host, after = part[1:end], part[end + 1 :]
            if not host:
                raise self.fail(f"empty IPv6 address in {part!r}")
            if after and not after.startswith(":"):
                raise self.fail(f"unexpected {after!r} after the IPv6 address in {part!r}")
            port_text = after[1:] if after else None
        else:
            if part.count(":") > 1:
                raise self.fail(f"host {part!r} has several ':'; put IPv6 addresses in brackets")
            host, colon, port_text_raw = part.partition(":")
            port_text = port_text_raw if colon else None
            if any(c in host for c in "[]@"):
                raise self.fail(f"invalid character in host {host!r}")
            if not host and not single:
                raise self.fail(f"missing host name in {part!r} of a host list")
        return host, self._port(port_text, part)

    def _port(self, port_text: str | None, part: str) -> int | None:
        if port_text is None:
            return None
        if not (port_text.isascii() and port_text.isdigit()):
            raise self.fail(f"port {port_text!r} in {part!r} is not an integer")
        port = int(port_text)
        if not 1 <= port <= 65535:
            raise self.fail(f"port {port} in {part!r} is out of range (1-65535)")
        return port

    def _query(self, query_text: str) -> tuple[tuple[str, str], ...]:
        seen: dict[str, str] = {}
        for item in query_text.split("&"):
            if not item:
                continue
            raw_key, _, raw_value = item.partition("=")
            key = unquote_plus(raw_key)
            if not key:
                raise self.fail(f"query item {item!r} has no name (write 'name=value')")
            if key in seen:
                raise self.fail(f"query option {key!r} is given twice (give each option once)")
            seen[key] = unquote_plus(raw_value)
        return tuple(seen.items())


def _mask_userinfo(text: str) -> tuple[str, str]:
    """``text`` with everything that may be a password masked, and that masked text.

    Conservative, for error messages: whatever lies between the first ":" after "://"
    and the last "@" of the whole string is treated as a password.
    """
    scheme, sep, rest = text.partition("://")
    userinfo, at, tail = rest.rpartition("@")
    if not (sep and at and ":" in userinfo):
        return text, ""
    user, _, candidate = userinfo.partition(":")
    return f"{scheme}://{user}:{_MASK}@{tail}", candidate
