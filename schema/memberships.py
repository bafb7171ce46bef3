"""Memberships, access requests, invitations and self-registration."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay

from auth.policy import Permission as P
from auth.requirements import PUBLIC, SEES_DEVICES, SEES_STOCK_LOCATIONS, requires
from core import clock
from core.ids import decode_id, global_id
from models import Invitation as InvitationRow
from models import Membership as MembershipRow
from models import User as UserRow
from models.enums import MembershipStatus
from resolvers import invitations, memberships, registration
from resolvers.loaders.memberships import (
    AssignedDevicesByMembershipIdLoader,
    AssignedStockLocationsByMembershipIdLoader,
    InvitationByIdLoader,
    InvitationsByAccountIdLoader,
    MembershipByIdLoader,
    MembershipsByAccountIdLoader,
)
from schema.accounts import Account
from schema.context import Info
from schema.devices import Device
from schema.enums import described_enum
from schema.mutations import Payload, transactional
from schema.node import LoadedNode
from schema.permissions import mutation, shown_to
from schema.stock import StockLocation
from schema.viewer import RoleEnum, User

MembershipStatusEnum = described_enum(
    MembershipStatus,
    name="MembershipStatus",
    description="ACTIVE: the role applies; PENDING: an access request waiting for an "
    "administrator; REJECTED: an access request an administrator declined.",
    values={
        MembershipStatus.ACTIVE: "The role applies on the account.",
        MembershipStatus.PENDING: "An access request waiting for an administrator of the "
        "account (`approveAccessRequest` / `rejectAccessRequest`).",
        MembershipStatus.REJECTED: "An access request an administrator declined.",
    },
)


@strawberry.enum(description="Where an invitation stands.")
class InvitationStatus(enum.Enum):
    PENDING = strawberry.enum_value(
        "PENDING", description="Sent by e-mail; its one-time link can still be accepted."
    )
    ACCEPTED = strawberry.enum_value(
        "ACCEPTED", description="Accepted: the invitee is a member of the account."
    )
    REVOKED = strawberry.enum_value(
        "REVOKED", description="Withdrawn by an administrator before it was accepted."
    )
    EXPIRED = strawberry.enum_value(
        "EXPIRED", description="Not accepted in time; `resendInvitation` sends a new link."
    )


def _user(row: UserRow) -> User:
    return User(
        id=row.id, email=row.email, name=row.name, language=row.language, is_agent=row.is_agent
    )


@strawberry.type(name="Membership", description="A person's role on one account.")
class Membership(LoadedNode):
    id: relay.NodeID[int]
    role: RoleEnum = strawberry.field(
        description="Role on the account (for an access request: not yet chosen)."
    )
    status: MembershipStatusEnum = strawberry.field(
        description="Active, or an access request (pending / rejected)."
    )
    version: int = strawberry.field(description="Changes with every update (for `version`).")
    created_at: datetime = strawberry.field(description="When the membership was created.")
    user: User = strawberry.field(description="The member.")
    account_id: strawberry.Private[int]

    by_id_loader = MembershipByIdLoader

    @classmethod
    def from_rows(cls, row: MembershipRow, user: UserRow) -> Membership:
        return cls(
            id=row.id,
            role=row.role,
            status=row.status,
            version=row.version,
            created_at=row.created_at,
            user=_user(user),
            account_id=row.account_id,
        )

    @classmethod
    def from_loaded(cls, loaded: Any) -> Membership:
        """The membership loader returns (membership, user) pairs."""
        return cls.from_rows(*loaded)

    @strawberry.field(description="The account.")
    async def account(self, info: Info) -> Account | None:
        return await Account.load(info, self.account_id)

    @strawberry.field(
        **shown_to(
            SEES_DEVICES,
            "Devices assigned to the member (device managers), as far as the viewer may see them.",
        )
    )
    async def devices(self, info: Info) -> list[Device]:
        rows = await info.context.loaders[AssignedDevicesByMembershipIdLoader].load(self.id)
        return [Device.from_row(r[1]) for r in rows]

    @strawberry.field(
        **shown_to(
            SEES_STOCK_LOCATIONS,
            "Stock locations assigned to the member (stock managers), as far as the "
            "viewer may see them.",
        )
    )
    async def stock_locations(self, info: Info) -> list[StockLocation]:
        rows = await info.context.loaders[AssignedStockLocationsByMembershipIdLoader].load(self.id)
        return [StockLocation.from_row(r[1]) for r in rows]


@strawberry.type(name="Invitation", description="An invitation to join an account, by e-mail.")
class Invitation(LoadedNode):
    id: relay.NodeID[int]
    email: str = strawberry.field(description="Address the invitation was sent to.")
    role: RoleEnum = strawberry.field(description="Role given on acceptance.")
    status: InvitationStatus = strawberry.field(description="Where the invitation stands.")
    language: str = strawberry.field(description="Language of the invitation mail.")
    created_at: datetime = strawberry.field(description="When it was first sent.")
    expires_at: datetime = strawberry.field(description="When the link stops working.")
    accepted_at: datetime | None = strawberry.field(description="When it was accepted.")
    revoked_at: datetime | None = strawberry.field(description="When it was revoked.")
    sent_count: int = strawberry.field(description="How often the mail was sent.")
    device_ids: list[strawberry.ID] = strawberry.field(
        description="Global IDs of the devices assigned on acceptance."
    )
    stock_location_ids: list[strawberry.ID] = strawberry.field(
        description="Global IDs of the stock locations assigned on acceptance."
    )
    account_id: strawberry.Private[int]

    by_id_loader = InvitationByIdLoader

    @classmethod
    def from_row(cls, row: InvitationRow) -> Invitation:
        if row.accepted_at is not None:
            status = InvitationStatus.ACCEPTED
        elif row.revoked_at is not None:
            status = InvitationStatus.REVOKED
        elif row.expires_at <= clock.now():
            status = InvitationStatus.EXPIRED
        else:
            status = InvitationStatus.PENDING
        return cls(
            id=row.id,
            email=row.email,
            role=row.role,
            status=status,
            language=row.language,
            created_at=row.created_at,
            expires_at=row.expires_at,
            accepted_at=row.accepted_at,
            revoked_at=row.revoked_at,
            sent_count=row.sent_count,
            device_ids=[strawberry.ID(global_id("Device", d)) for d in row.device_ids or []],
            stock_location_ids=[
                strawberry.ID(global_id("StockLocation", s)) for s in row.stock_location_ids or []
            ],
            account_id=row.account_id,
        )

    @strawberry.field(description="The account the invitation is for.")
    async def account(self, info: Info) -> Account | None:
        return await Account.load(info, self.account_id)


async def account_members(info: Info, account_id: int) -> list[Membership]:
    rows = await info.context.loaders[MembershipsByAccountIdLoader].load(account_id)
    return [Membership.from_rows(m, u) for m, u in rows]


async def account_invitations(info: Info, account_id: int) -> list[Invitation]:
    rows = await info.context.loaders[InvitationsByAccountIdLoader].load(account_id)
    return [Invitation.from_row(r) for r in rows]


# --- inputs and payloads -----------------------------------------------------------------


@strawberry.input(description="Self-registration, proven by a device serial number of the account.")
class RegisterInput:
    email: str = strawberry.field(description="E-mail address (sign-in name; confirmed by mail).")
    name: str = strawberry.field(description="Full name.")
    password: str = strawberry.field(description="Password (at least 10 characters by default).")
    customer_account_number: str = strawberry.field(
        description="Customer account number (on contracts and invoices)."
    )
    device_serial_number: str = strawberry.field(
        description="Serial number of one of the account's devices."
    )
    language: str | None = strawberry.field(
        default=None, description="en, fr or it; default: the request's language."
    )


@strawberry.type(description="Result of a registration.")
class RegisterPayload(Payload):
    email: str | None = strawberry.field(
        default=None, description="The address the confirmation mail was sent to."
    )


@strawberry.input(description="The token from the confirmation link.")
class ConfirmEmailInput:
    token: str = strawberry.field(description="One-time token from the mail.")


@strawberry.type(description="Result of an e-mail confirmation.")
class ConfirmEmailPayload(Payload):
    confirmed: bool = strawberry.field(
        default=False, description="Whether the address is now confirmed."
    )
    access_status: MembershipStatusEnum | None = strawberry.field(
        default=None,
        description="ACTIVE: the account is yours to administer; PENDING: its administrators "
        "decide on your access request.",
    )
    role: RoleEnum | None = strawberry.field(
        default=None, description="The role now held, when access is active."
    )


@strawberry.input(description="Approve an access request, choosing role and assignments.")
class ApproveAccessRequestInput:
    membership_id: strawberry.ID = strawberry.field(description="The pending membership.")
    role: RoleEnum = strawberry.field(description="Role to give.")
    device_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Devices to assign (roles working on assigned devices)."
    )
    stock_location_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Stock locations to assign (stock roles)."
    )


@strawberry.input(description="Reject an access request.")
class RejectAccessRequestInput:
    membership_id: strawberry.ID = strawberry.field(description="The pending membership.")


@strawberry.input(description="Change a member's role or assignments.")
class UpdateMembershipInput:
    membership_id: strawberry.ID = strawberry.field(description="The membership.")
    role: RoleEnum | None = strawberry.field(
        default=None, description="New role; unchanged when omitted."
    )
    device_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Replaces the assigned devices; unchanged when omitted."
    )
    stock_location_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Replaces the assigned stock locations; unchanged when omitted."
    )
    version: int | None = strawberry.field(
        default=None, description="The version read; refused with STALE_VERSION if it changed."
    )


@strawberry.input(description="Remove a member from an account.")
class RevokeMembershipInput:
    membership_id: strawberry.ID = strawberry.field(description="The membership.")


@strawberry.type(description="The membership after the change.")
class ApproveAccessRequestPayload(Payload):
    membership: Membership | None = strawberry.field(default=None, description="The membership.")


@strawberry.type(description="The membership after the change.")
class RejectAccessRequestPayload(Payload):
    membership: Membership | None = strawberry.field(default=None, description="The membership.")


@strawberry.type(description="The membership after the change.")
class UpdateMembershipPayload(Payload):
    membership: Membership | None = strawberry.field(default=None, description="The membership.")


@strawberry.type(description="Result of removing a member.")
class RevokeMembershipPayload(Payload):
    revoked_membership_id: strawberry.ID | None = strawberry.field(
        default=None, description="Global ID of the removed membership."
    )


@strawberry.input(description="Invite a colleague to an account.")
class InviteUserInput:
    account_id: strawberry.ID = strawberry.field(description="The account.")
    email: str = strawberry.field(description="Address to invite.")
    role: RoleEnum = strawberry.field(description="Role given on acceptance.")
    device_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Devices to assign (roles working on assigned devices)."
    )
    stock_location_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Stock locations to assign (stock roles)."
    )
    language: str | None = strawberry.field(
        default=None,
        description="Language of the mail (en, fr, it); default: the person's own if known, "
        "else the account's.",
    )


@strawberry.input(description="An invitation to resend or revoke.")
class InvitationIdInput:
    invitation_id: strawberry.ID = strawberry.field(description="The invitation.")


@strawberry.type(description="The invitation after the change.")
class InviteUserPayload(Payload):
    invitation: Invitation | None = strawberry.field(default=None, description="The invitation.")


@strawberry.type(description="The invitation after the change.")
class ResendInvitationPayload(Payload):
    invitation: Invitation | None = strawberry.field(default=None, description="The invitation.")


@strawberry.type(description="The invitation after the change.")
class RevokeInvitationPayload(Payload):
    invitation: Invitation | None = strawberry.field(default=None, description="The invitation.")


@strawberry.input(description="Accept an invitation from its link.")
class AcceptInvitationInput:
    token: str = strawberry.field(description="One-time token from the invitation mail.")
    name: str | None = strawberry.field(
        default=None, description="Full name (required for a new user)."
    )
    password: str | None = strawberry.field(
        default=None, description="Password (required for a new user; ignored otherwise)."
    )


@strawberry.type(description="Result of accepting an invitation.")
class AcceptInvitationPayload(Payload):
    accepted: bool = strawberry.field(default=False, description="Whether it was accepted.")
    email: str | None = strawberry.field(default=None, description="The sign-in address.")
    new_user: bool | None = strawberry.field(
        default=None, description="Whether a user was created (else the membership was added)."
    )


def _id(info: Info, value: strawberry.ID, type_name: str) -> str:
    """A well-formed global ID of `type_name` (BAD_USER_INPUT otherwise), as the resolvers
    take it."""
    decode_id(value, type_name, language=info.context.language)
    return str(value)


def _ids(values: list[strawberry.ID] | None) -> list[str] | None:
    """Assigned objects: an ID that names none of the account's is a userError."""
    return None if values is None else [str(v) for v in values]


@strawberry.type
class MembershipMutation:
    @mutation(
        PUBLIC,
        description="Registers a person who proves a device serial number of a customer "
        "account; a confirmation link is mailed.",
    )
    async def register(
        self,
        info: Info,
        input: Annotated[
            RegisterInput,
            strawberry.argument(
                description="The new user's e-mail address, name and password, the customer account number and the serial number of one of the account's devices."
            ),
        ],
    ) -> RegisterPayload:
        async def work() -> RegisterPayload:
            user = await registration.register(
                info.context,
                email=input.email,
                name=input.name,
                password=input.password,
                customer_account_number=input.customer_account_number,
                device_serial_number=input.device_serial_number,
                language=input.language,
            )
            return RegisterPayload(email=user.email)

        return await transactional(info, RegisterPayload, work)

    @mutation(
        PUBLIC,
        description="Confirms an e-mail address with the link's token. The first confirmed "
        "person of an account without an administrator (its own, or one of a group above it) "
        "becomes its administrator; otherwise this files an access request, mailed to those "
        "administrators.",
    )
    async def confirm_email(
        self,
        info: Info,
        input: Annotated[
            ConfirmEmailInput,
            strawberry.argument(description="The token from the confirmation e-mail's link."),
        ],
    ) -> ConfirmEmailPayload:
        async def work() -> ConfirmEmailPayload:
            _, status, role = await registration.confirm_email(info.context, input.token)
            return ConfirmEmailPayload(confirmed=True, access_status=status, role=role)

        return await transactional(info, ConfirmEmailPayload, work)

    @mutation(requires(P.MANAGE_USERS), description="Approves an access request.")
    async def approve_access_request(
        self,
        info: Info,
        input: Annotated[
            ApproveAccessRequestInput,
            strawberry.argument(
                description="The access request, and the role and assignments it gets."
            ),
        ],
    ) -> ApproveAccessRequestPayload:
        async def work() -> ApproveAccessRequestPayload:
            row, user = await memberships.decide_access_request(
                info.context,
                _id(info, input.membership_id, "Membership"),
                approve=True,
                role=input.role,
                device_ids=_ids(input.device_ids),
                stock_location_ids=_ids(input.stock_location_ids),
            )
            return ApproveAccessRequestPayload(membership=Membership.from_rows(row, user))

        return await transactional(info, ApproveAccessRequestPayload, work)

    @mutation(requires(P.MANAGE_USERS), description="Rejects an access request.")
    async def reject_access_request(
        self,
        info: Info,
        input: Annotated[
            RejectAccessRequestInput,
            strawberry.argument(description="The access request to decline."),
        ],
    ) -> RejectAccessRequestPayload:
        async def work() -> RejectAccessRequestPayload:
            row, user = await memberships.decide_access_request(
                info.context, _id(info, input.membership_id, "Membership"), approve=False
            )
            return RejectAccessRequestPayload(membership=Membership.from_rows(row, user))

        return await transactional(info, RejectAccessRequestPayload, work)

    @mutation(
        requires(P.MANAGE_USERS),
        description="Changes a member's role or assigned devices / stock locations; the last "
        "administrator cannot be demoted (LAST_ADMINISTRATOR).",
    )
    async def update_membership(
        self,
        info: Info,
        input: Annotated[
            UpdateMembershipInput,
            strawberry.argument(
                description="The membership and its new role, devices or stock locations."
            ),
        ],
    ) -> UpdateMembershipPayload:
        async def work() -> UpdateMembershipPayload:
            row, user = await memberships.update_membership(
                info.context,
                _id(info, input.membership_id, "Membership"),
                input.role,
                _ids(input.device_ids),
                _ids(input.stock_location_ids),
                input.version,
            )
            return UpdateMembershipPayload(membership=Membership.from_rows(row, user))

        return await transactional(info, UpdateMembershipPayload, work)

    @mutation(
        requires(P.MANAGE_USERS),
        description="Removes a member from an account; the last administrator cannot be "
        "removed (LAST_ADMINISTRATOR).",
    )
    async def revoke_membership(
        self,
        info: Info,
        input: Annotated[
            RevokeMembershipInput, strawberry.argument(description="The membership to end.")
        ],
    ) -> RevokeMembershipPayload:
        async def work() -> RevokeMembershipPayload:
            pk = await memberships.revoke_membership(
                info.context, _id(info, input.membership_id, "Membership")
            )
            return RevokeMembershipPayload(
                revoked_membership_id=strawberry.ID(global_id("Membership", pk))
            )

        return await transactional(info, RevokeMembershipPayload, work)

    @mutation(
        requires(P.MANAGE_USERS),
        description="Invites a colleague by e-mail with a role and assigned devices / stock "
        "locations of the account.",
    )
    async def invite_user(
        self,
        info: Info,
        input: Annotated[
            InviteUserInput,
            strawberry.argument(
                description="The colleague's e-mail address, the account, the role and its assignments."
            ),
        ],
    ) -> InviteUserPayload:
        async def work() -> InviteUserPayload:
            row = await invitations.invite_user(
                info.context,
                account_id=_id(info, input.account_id, "Account"),
                email=input.email,
                role=input.role,
                device_ids=_ids(input.device_ids),
                stock_location_ids=_ids(input.stock_location_ids),
                language=input.language,
            )
            return InviteUserPayload(invitation=Invitation.from_row(row))

        return await transactional(info, InviteUserPayload, work)

    @mutation(
        requires(P.MANAGE_USERS),
        description="Sends an open invitation again with a new link (the old one stops "
        "working) and a new expiry.",
    )
    async def resend_invitation(
        self,
        info: Info,
        input: Annotated[
            InvitationIdInput, strawberry.argument(description="The invitation to send again.")
        ],
    ) -> ResendInvitationPayload:
        async def work() -> ResendInvitationPayload:
            row = await invitations.resend_invitation(
                info.context, _id(info, input.invitation_id, "Invitation")
            )
            return ResendInvitationPayload(invitation=Invitation.from_row(row))

        return await transactional(info, ResendInvitationPayload, work)

    @mutation(requires(P.MANAGE_USERS), description="Revokes an open invitation.")
    async def revoke_invitation(
        self,
        info: Info,
        input: Annotated[
            InvitationIdInput, strawberry.argument(description="The invitation to withdraw.")
        ],
    ) -> RevokeInvitationPayload:
        async def work() -> RevokeInvitationPayload:
            row = await invitations.revoke_invitation(
                info.context, _id(info, input.invitation_id, "Invitation")
            )
            return RevokeInvitationPayload(invitation=Invitation.from_row(row))

        return await transactional(info, RevokeInvitationPayload, work)

    @mutation(
        PUBLIC,
        description="Accepts an invitation from its link: creates the user (name and password "
        "needed) or adds the membership to the existing one.",
    )
    async def accept_invitation(
        self,
        info: Info,
        input: Annotated[
            AcceptInvitationInput,
            strawberry.argument(
                description="The token from the invitation e-mail's one-time link."
            ),
        ],
    ) -> AcceptInvitationPayload:
        async def work() -> AcceptInvitationPayload:
            user, created = await invitations.accept_invitation(
                info.context, token=input.token, name=input.name, password=input.password
            )
            return AcceptInvitationPayload(accepted=True, email=user.email, new_user=created)

        return await transactional(info, AcceptInvitationPayload, work)
