"""docs/api.md is kept in step with the code: every public name, method, attribute and
option of brokerkit is documented there, and everything it names exists."""

from __future__ import annotations

import enum
import inspect
import re
from pathlib import Path
from typing import is_typeddict

import pytest

import brokerkit
from brokerkit._options import COMMON_OPTIONS, CONSUMER_OPTIONS, PRODUCER_OPTIONS, OptionSchema

DOC = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text()

#: Attributes set on instances (not visible on the class), per public class.
INSTANCE_ATTRIBUTES = {
    "Broker": ("url", "backend", "options", "capabilities"),
    "Consumer": ("topic", "group", "guarantee", "commit_mode"),
    "Producer": ("topic", "guarantee"),
}
#: The async classes document themselves through their sync twin (same surface).
TWINS = {
    "AsyncBroker": "Broker",
    "AsyncProducer": "Producer",
    "AsyncConsumer": "Consumer",
    "AsyncMessage": "Message",
}


def _public_classes() -> list[str]:
    return [
        name
        for name in brokerkit.__all__
        if inspect.isclass(getattr(brokerkit, name))
        and not issubclass(getattr(brokerkit, name), BaseException | enum.Enum)
        and not is_typeddict(getattr(brokerkit, name))  # keys: checked by test_typing.py
    ]


def _section(title: str) -> str:
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ |\Z)", DOC, re.S | re.M)
    assert match is not None, f"docs/api.md has no section {title!r}"
    return match.group(1)


def _table_names(section: str) -> set[str]:
    return set(re.findall(r"^\| `(\w+)` \|", section, re.M))


@pytest.mark.parametrize("name", brokerkit.__all__)
def test_every_public_name_is_documented(name: str) -> None:
    assert re.search(rf"`(brokerkit\.)?{re.escape(name)}\b", DOC), (
        f"brokerkit.{name} is public (in brokerkit.__all__) but docs/api.md does not name it"
    )


@pytest.mark.parametrize("cls", _public_classes())
def test_every_public_method_and_attribute_is_documented(cls: str) -> None:
    obj = getattr(brokerkit, cls)
    shown = TWINS.get(cls, cls)
    members = {n for n in dir(obj) if not n.startswith("_")}
    members |= set(INSTANCE_ATTRIBUTES.get(shown, ()))
    if cls in TWINS:
        twin = getattr(brokerkit, shown)
        assert members == {n for n in dir(twin) if not n.startswith("_")} | set(
            INSTANCE_ATTRIBUTES.get(shown, ())
        ), f"{cls} and {shown} differ: the reference documents them as one"
    if dataclass_fields := getattr(obj, "__dataclass_fields__", None):
        members -= set(dataclass_fields)  # fields: in their own table, checked below
    missing = sorted(m for m in members if f"`{shown}.{m}" not in DOC)
    assert not missing, (
        f"docs/api.md does not document {', '.join(f'{shown}.{m}' for m in missing)}"
    )


def test_every_documented_method_exists() -> None:
    for cls, member in re.findall(r"`(\w+)\.(\w+)[(`:\s]", DOC):
        if cls == "brokerkit" or not hasattr(brokerkit, cls):
            continue
        obj = getattr(brokerkit, cls)
        if member in INSTANCE_ATTRIBUTES.get(TWINS.get(cls, cls), ()):
            continue  # checked on live objects below
        assert hasattr(obj, member), f"docs/api.md names {cls}.{member}, which does not exist"


def test_documented_signatures_match() -> None:
    for cls, method, params in re.findall(r"`(\w+)\.(\w+)\(([^)`]*)\)", DOC):
        obj = getattr(getattr(brokerkit, cls, None), method, None)
        if obj is None or not callable(obj):
            continue
        documented = [p.split("=")[0].strip() for p in params.split(",") if p.strip()]
        documented = [p for p in documented if p not in ("*", "/")]
        actual = [
            ("**" + p.name if p.kind is p.VAR_KEYWORD else p.name)
            for p in inspect.signature(obj).parameters.values()
            if p.name not in ("self", "cls")
        ]
        assert documented == actual, f"{cls}.{method}: docs say ({params}), code has {actual}"


def test_every_documented_public_function_exists() -> None:
    for name in set(re.findall(r"`brokerkit\.(\w+)", DOC)):
        assert hasattr(brokerkit, name), f"docs/api.md names brokerkit.{name}, which is not public"


@pytest.mark.parametrize(
    ("title", "schema"),
    [
        ("Connection options", COMMON_OPTIONS),
        ("Producer options", PRODUCER_OPTIONS),
        ("Consumer options", CONSUMER_OPTIONS),
    ],
)
def test_option_tables_match_the_schemas(title: str, schema: OptionSchema) -> None:
    assert _table_names(_section(title)) == {opt.name for opt in schema}


def test_capability_table_matches_the_dataclass() -> None:
    assert _table_names(_section("Capabilities")) == set(brokerkit.Capabilities.names())


def test_every_error_is_in_the_error_table() -> None:
    errors = {
        name
        for name in brokerkit.__all__
        if inspect.isclass(getattr(brokerkit, name))
        and issubclass(getattr(brokerkit, name), brokerkit.BrokerError)
        and name != "BrokerError"
    }
    documented = set(re.findall(r"^\| `brokerkit\.(\w+)` \|", _section("Errors"), re.M))
    assert documented == errors


def test_enum_members_are_documented() -> None:
    for enum_cls in (brokerkit.Guarantee, brokerkit.Commit):
        for member in enum_cls:
            assert f"`{enum_cls.__name__}.{member.name}`" in DOC
            assert f'`"{member.value}"' in DOC


def test_documented_instance_attributes_exist() -> None:
    with brokerkit.connect("memory://") as broker:
        objects = {
            "Broker": broker,
            "Producer": broker.producer("t"),
            "Consumer": broker.consumer("t", group="g"),
        }
        for cls, names in INSTANCE_ATTRIBUTES.items():
            for name in names:
                assert f"`{cls}.{name}" in DOC
                assert hasattr(objects[cls], name), f"{cls}.{name}"
