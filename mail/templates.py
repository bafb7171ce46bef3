"""Mails of the identity domain: e-mail confirmation, invitations, access requests.

Each template's subject and plain-text body are the messages `<name>.subject` and `<name>.body`
of the catalogs (locale/); placeholders are filled by `mail.render` when the sender delivers
the message."""

from __future__ import annotations

CONFIRM_EMAIL = "identity.confirm_email"
INVITATION = "identity.invitation"
ACCESS_REQUEST = "identity.access_request"
ACCESS_APPROVED = "identity.access_approved"
ACCESS_REJECTED = "identity.access_rejected"
