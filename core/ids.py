"""Relay global IDs: the opaque `id` of every object, base64 of "Type:key" as strawberry writes
them, and their decoding back to a database key of the expected type."""

from __future__ import annotations

from strawberry import relay

from core.errors import BadUserInput


def global_id(type_name: str, pk: int) -> str:
    return str(relay.GlobalID(type_name, str(pk)))


# Keys are 64-bit integers (BIGINT on PostgreSQL, INTEGER on SQLite): a number beyond them
# names no object, and would fail in the database driver.
MAX_KEY = 2**63 - 1


def parse_global_id(value: str) -> tuple[str, int] | None:
    try:
        gid = relay.GlobalID.from_id(value)
        pk = int(gid.node_id)
    except (ValueError, TypeError):
        return None
    return (gid.type_name, pk) if -MAX_KEY - 1 <= pk <= MAX_KEY else None


def decode_id(value: str | relay.GlobalID, expected: str, *, language: str = "en") -> int:
    """Database key behind a global ID of the expected type; BAD_USER_INPUT otherwise."""
    parsed = parse_global_id(str(value))
    if parsed is None or parsed[0] != expected:
        raise BadUserInput(
            message_code="INVALID_ID",
            language=language,
            argument=str(value)[:100],
            expectedType=expected,
        )
    return parsed[1]


def decode_id_or_none(value: str | relay.GlobalID, expected: str) -> int | None:
    parsed = parse_global_id(str(value))
    return parsed[1] if parsed is not None and parsed[0] == expected else None
