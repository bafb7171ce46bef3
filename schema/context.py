"""The strawberry `Info` of this API: every field resolver's `info.context` is the request's
`resolvers.context.Context`."""

from __future__ import annotations

from strawberry.types import Info as StrawberryInfo

from resolvers.context import Context

Info = StrawberryInfo[Context, None]
