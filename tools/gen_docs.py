"""Regenerate the option and capability tables in docs/ from the backend specs.

    python tools/gen_docs.py          # rewrite the generated blocks
    python tools/gen_docs.py --check  # fail if a generated block is stale

A generated block sits between ``<!-- generated:NAME -->`` and ``<!-- end:NAME -->``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from brokerkit._options import (  # noqa: E402
    COMMON_OPTIONS,
    CONSUMER_OPTIONS,
    PRODUCER_OPTIONS,
    Option,
    OptionSchema,
)
from brokerkit._registry import BUILTIN_SPECS, PLANNED_BACKENDS  # noqa: E402
from brokerkit._spec import BackendSpec, resolve_object  # noqa: E402
from brokerkit._types import Capabilities  # noqa: E402
from brokerkit._url import make_url  # noqa: E402


def _default(opt: Option) -> str:
    value = opt.default
    if value is None:
        return "—"
    return f"`{getattr(value, 'value', value)}`"


def options_table(schema: OptionSchema) -> str:
    rows = ["| option | type | default | meaning |", "|---|---|---|---|"]
    for opt in sorted(schema, key=lambda o: o.name):
        kind = getattr(opt.kind, "__name__", str(opt.kind))
        if opt.choices:
            kind = " \\| ".join(f"`{c}`" for c in opt.choices)
        elif kind in ("Guarantee", "Commit"):
            kind = " \\| ".join(f"`{m.value}`" for m in opt.kind)
        elif kind == "object":
            kind = "Python object (keyword only)"
        rows.append(f"| `{opt.name}` | {kind} | {_default(opt)} | {opt.doc} |")
    return "\n".join(rows)


def _specs() -> list[BackendSpec]:
    seen: dict[str, BackendSpec] = {}
    for ref in BUILTIN_SPECS:
        try:
            spec = resolve_object(ref)
        except ImportError:  # a backend still being written, or its client is missing
            continue
        seen.setdefault(spec.name, spec)
    return list(seen.values())


def _doc_urls(spec: BackendSpec) -> list[str]:
    """The spec's test-variant URLs, as the docs show them (no per-test names)."""
    urls = [
        url.replace("bk-{unique}", "").replace("{unique}", "")
        for url in spec.test_variants.values()
    ]
    return urls or [f"{spec.schemes[0]}://"]


def capability_table() -> str:
    fields = list(Capabilities.names())
    rows = ["| URL | " + " | ".join(fields) + " |", "|---" * (len(fields) + 1) + "|"]
    for spec in _specs():
        for url in _doc_urls(spec):
            parsed = make_url(url)
            opts = COMMON_OPTIONS.extend(*spec.options).resolve(
                parsed.query_dict, {}, context=spec.name
            )
            caps = spec.capabilities(parsed, opts)
            cells = ["✓" if getattr(caps, f) else "—" for f in fields]
            rows.append(f"| `{url}` | " + " | ".join(cells) + " |")
    shipped = {scheme for spec in _specs() for scheme in spec.schemes}
    planned = ", ".join(
        f"`{scheme}://`" for scheme in sorted(PLANNED_BACKENDS) if scheme not in shipped
    )
    if planned:
        rows.append(f"| {planned} | planned |" + " |" * (len(fields) - 1))
    return "\n".join(rows)


def blocks() -> dict[str, str]:
    out = {
        "common-options": options_table(COMMON_OPTIONS),
        "producer-options": options_table(PRODUCER_OPTIONS),
        "consumer-options": options_table(CONSUMER_OPTIONS),
        "capabilities": capability_table(),
    }
    for spec in _specs():
        for kind, schema in (
            ("options", spec.options),
            ("producer-options", spec.producer_options),
            ("consumer-options", spec.consumer_options),
        ):
            out[f"{spec.name}-{kind}"] = (
                options_table(schema) if len(list(schema)) else "_(none beyond the common ones)_"
            )
    return out


_BLOCK = re.compile(
    r"(<!-- generated:(?P<name>[\w-]+) -->\n)(?:.*?\n)?(<!-- end:(?P=name) -->)", re.S
)


def render(text: str, generated: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m["name"]
        if name not in generated:
            raise SystemExit(f"unknown generated block {name!r}")
        return m.group(1) + generated[name] + "\n" + m.group(3)

    return _BLOCK.sub(sub, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    generated = blocks()
    stale = []
    for path in sorted((ROOT / "docs").rglob("*.md")):
        text = path.read_text()
        new = render(text, generated)
        if new != text:
            if args.check:
                stale.append(path.relative_to(ROOT))
            else:
                path.write_text(new)
                print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("stale generated tables in: " + ", ".join(map(str, stale)))
        print("run: python tools/gen_docs.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
