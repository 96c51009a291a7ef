"""What a config error adds for a mistyped choice: the values accepted there, and the closest one."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator

import msgspec.inspect as mi

_STEP = re.compile(r"\.([^.\[]+)|\[\d+\]")
_BAD_VALUE = re.compile(r"^Invalid (?:enum )?value '(?P<value>[^']*)'$")


def choice_hint(root: type, path: str, problem: str) -> str:
    """`` (one of: a, b, c; did you mean 'b'?)`` when ``problem`` refuses a value at ``path`` (``$.models[0].kind``)
    of ``root`` that must be one of a closed set; otherwise nothing."""
    refused = _BAD_VALUE.match(problem)
    if refused is None:
        return ""
    choices = sorted(set(_values(_at(mi.type_info(root), path))))
    if not choices:
        return ""
    value = refused["value"]
    starting = [choice for choice in choices if value and choice.startswith(value)]  # `least` is least_outstanding
    closest = (
        starting[:1] if len(starting) == 1 else difflib.get_close_matches(value, starting or choices, n=1, cutoff=0.5)
    )
    suggestion = f"; did you mean {closest[0]!r}?" if closest else ""
    return f" (one of: {', '.join(choices)}{suggestion})"


def _at(info: mi.Type, path: str) -> list[mi.Type]:
    found = [info]
    for match in _STEP.finditer(path.removeprefix("$")):
        found = [child for here in found for child in _step(here, match.group(1))]
    return found


def _step(info: mi.Type, name: str | None) -> Iterator[mi.Type]:
    """The types one step below ``info``: a field or mapping entry by ``name``, a list item when None."""
    if isinstance(info, mi.UnionType):
        for member in info.types:
            yield from _step(member, name)
    elif isinstance(info, mi.StructType) and name is not None:
        if info.tag_field == name and info.tag is not None:
            yield mi.LiteralType((info.tag,))
        yield from (field.type for field in info.fields if field.encode_name == name)
    elif isinstance(info, mi.DictType) and name is not None:
        yield info.value_type
    elif isinstance(info, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType) and name is None:
        yield info.item_type


def _values(found: Iterable[mi.Type]) -> Iterator[str]:
    for info in found:
        if isinstance(info, mi.LiteralType):
            yield from (str(value) for value in info.values)
        elif isinstance(info, mi.EnumType):
            yield from (str(member.value) for member in info.cls)
        elif isinstance(info, mi.UnionType):
            yield from _values(info.types)
