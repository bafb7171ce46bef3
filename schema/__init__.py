"""The GraphQL layer: strawberry types per domain; `schema.root` assembles the Schema."""
