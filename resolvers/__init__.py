"""The reads and writes behind the GraphQL types, one module per domain."""
