"""GraphQL enums over the domain's Python enums (models/enums.py, auth/policy.py), each value
with its description: the domain enums stay free of strawberry, and a value left undescribed
(or a description for a value that does not exist) fails at import."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TypeVar

import strawberry
from strawberry.types.enum import StrawberryEnumDefinition

EnumT = TypeVar("EnumT", bound=enum.Enum)


def described_enum(
    cls: type[EnumT], *, name: str, description: str, values: Mapping[EnumT, str]
) -> type[EnumT]:
    """`strawberry.enum(cls, ...)`, with `values` giving every member's description."""
    if set(values) != set(cls):
        missing = sorted(member.name for member in set(cls) - set(values))
        extra = sorted(str(member) for member in set(values) - set(cls))
        raise ValueError(f"{name}: values without a description {missing}, unknown {extra}")
    wrapped = strawberry.enum(cls, name=name, description=description)
    definition: StrawberryEnumDefinition = wrapped.__strawberry_definition__  # type: ignore[attr-defined]
    for value in definition.values:
        value.description = values[cls[value.name]]
    return wrapped
