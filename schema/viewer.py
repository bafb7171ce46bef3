"""`viewer`: the signed-in user, memberships and permissions (so a UI can hide buttons)."""

from __future__ import annotations

import strawberry
from strawberry import relay

from auth.policy import Permission
from models import User as UserRow
from models.enums import Role
from resolvers.loaders.users import UserByIdLoader
from resolvers.scoping import Scope
from schema.accounts import Account
from schema.context import Info
from schema.node import LoadedNode

PermissionEnum = strawberry.enum(
    Permission, name="Permission", description="Something a viewer may do or see."
)
RoleEnum = strawberry.enum(Role, name="Role", description="A user's role on one account.")


@strawberry.type(description="A person who uses the portal.")
class User(LoadedNode):
    id: relay.NodeID[int]
    email: str = strawberry.field(description="Sign-in e-mail address.")
    name: str = strawberry.field(description="Full name.")
    language: str = strawberry.field(description="Preferred language (en, fr, it).")
    is_agent: bool = strawberry.field(description="Vendor staff (sees every account).")

    by_id_loader = UserByIdLoader

    @classmethod
    def from_row(cls, row: UserRow) -> User:
        return cls(
            id=row.id,
            email=row.email,
            name=row.name,
            language=row.language,
            is_agent=row.is_agent,
        )


@strawberry.type(description="The viewer's role on one account.")
class ViewerMembership:
    role: RoleEnum = strawberry.field(description="Role on this account.")
    permissions: list[PermissionEnum] = strawberry.field(
        description="What the role allows on this account."
    )
    account_id: strawberry.Private[int]

    @strawberry.field(description="The account.")
    async def account(self, info: Info) -> Account | None:
        return await Account.load(info, self.account_id)


@strawberry.type(description="Who is signed in and what they may do.")
class Viewer:
    scope: strawberry.Private[Scope]

    @strawberry.field(
        description="The signed-in user; null for anonymous callers and machine clients."
    )
    def user(self) -> User | None:
        user = self.scope.user
        if user is None:
            return None
        return User.from_row(user)

    @strawberry.field(description="Whether the caller is signed in.")
    def authenticated(self) -> bool:
        return self.scope.is_authenticated

    @strawberry.field(description="Active memberships, one per account.")
    def memberships(self) -> list[ViewerMembership]:
        return [
            ViewerMembership(
                role=g.role, permissions=sorted(g.permissions), account_id=g.account_id
            )
            for g in self.scope.grants
        ]

    @strawberry.field(
        description="Everything the viewer holds on at least one account, or globally."
    )
    def permissions(self) -> list[PermissionEnum]:
        return sorted(p for p in Permission if self.scope.holds_anywhere(p))


@strawberry.type
class ViewerQuery:
    @strawberry.field(description="The caller: anonymous, a user, or a machine client.")
    async def viewer(self, info: Info) -> Viewer:
        return Viewer(scope=await info.context.scope())
