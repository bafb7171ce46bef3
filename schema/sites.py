"""The root list of sites (the `Site` type lives with accounts)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from auth.requirements import SEES_ACCOUNTS
from resolvers.sites import site_connection
from schema.accounts import Site
from schema.context import Info
from schema.pagination import FILTER, After, Before, Connection, First, Last
from schema.permissions import shown_to


@strawberry.input(description="Narrows the sites list; all given conditions must hold.")
class SiteFilter:
    account_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Accounts (their sub-accounts included)."
    )
    country: str | None = strawberry.field(default=None, description="ISO country code.")
    search: str | None = strawberry.field(default=None, description="Part of the name or city.")


@strawberry.type(description="A page of sites.")
class SiteConnection(Connection[Site]):
    pass


@strawberry.type
class SiteQuery:
    @strawberry.field(
        **shown_to(
            SEES_ACCOUNTS,
            "Sites of the accounts the viewer may see, by name (keyset pages of at most 100).",
        )
    )
    async def sites(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[SiteFilter | None, FILTER] = None,
    ) -> SiteConnection:
        page = await site_connection(
            info.context, first=first, after=after, last=last, before=before, filter=filter
        )
        return SiteConnection.of(page, Site.from_row)
