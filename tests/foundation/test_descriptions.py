"""Every element of the schema is documented: types, fields, arguments, input fields and enum
values each carry a description (GraphiQL shows it; it is the API's documentation)."""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    specified_scalar_types,
)

from schema.root import schema


def _described(description: str | None) -> bool:
    return bool(description and description.strip())


def undocumented(graphql_schema: GraphQLSchema) -> list[str]:
    """The coordinates (`Type`, `Type.field`, `Type.field(arg:)`, `Enum.VALUE`) of every element
    without a non-empty description, introspection types and built-in scalars aside."""
    missing: list[str] = []
    for name, type_ in sorted(graphql_schema.type_map.items()):
        if name.startswith("__") or name in specified_scalar_types:
            continue
        if not _described(type_.description):
            missing.append(name)
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in type_.fields.items():
                if not _described(field.description):
                    missing.append(f"{name}.{field_name}")
                missing.extend(
                    f"{name}.{field_name}({arg_name}:)"
                    for arg_name, arg in field.args.items()
                    if not _described(arg.description)
                )
        elif isinstance(type_, GraphQLInputObjectType):
            missing.extend(
                f"{name}.{field_name}"
                for field_name, field in type_.fields.items()
                if not _described(field.description)
            )
        elif isinstance(type_, GraphQLEnumType):
            missing.extend(
                f"{name}.{value_name}"
                for value_name, value in type_.values.items()
                if not _described(value.description)
            )
    return missing


def test_every_schema_element_has_a_description() -> None:
    # given
    graphql_schema = schema._schema
    # when
    missing = undocumented(graphql_schema)
    # then
    assert missing == [], f"{len(missing)} elements without a description:\n" + "\n".join(missing)


def test_an_element_without_a_description_is_reported() -> None:
    # given: a schema with one undescribed field argument
    bare = build_schema('"The root." type Query { "A greeting." hello(name: String): String }')
    # when
    missing = undocumented(bare)
    # then
    assert missing == ["Query.hello(name:)"]
