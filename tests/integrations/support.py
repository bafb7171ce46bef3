"""A real webhook receiver for the tests (a small ASGI app served by uvicorn on loopback) that
checks signatures the Standard Webhooks way and answers as each test scripts it, plus the
GraphQL documents of the webhook tests."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from webhooks import signing

CREATE_WEBHOOK = """
mutation Create($input: CreateWebhookInput!) {
  createWebhook(input: $input) {
    webhook { id url events query description active account { id name } hasOwner }
    secret
    userErrors { field code message }
  }
}
"""

UPDATE_WEBHOOK = """
mutation Update($input: UpdateWebhookInput!) {
  updateWebhook(input: $input) {
    webhook { id url events active consecutiveFailures disabledReason }
    userErrors { field code message }
  }
}
"""

DELETE_WEBHOOK = """
mutation Delete($input: WebhookIdInput!) {
  deleteWebhook(input: $input) { deletedWebhookId userErrors { field code message } }
}
"""

ROTATE_SECRET = """
mutation Rotate($input: WebhookIdInput!) {
  rotateWebhookSecret(input: $input) {
    webhook { id previousSecretExpiresAt }
    secret
    userErrors { field code message }
  }
}
"""

REDELIVER = """
mutation Redeliver($input: WebhookDeliveryIdInput!) {
  redeliverWebhookDelivery(input: $input) {
    delivery { id event status attempts subjectId }
    userErrors { field code message }
  }
}
"""

QUERY_WEBHOOKS = """
query Webhooks {
  webhooks(first: 20) {
    totalCount
    nodes {
      id url active disabledReason consecutiveFailures account { name }
      deliveries(first: 20) {
        totalCount
        nodes {
          id event subjectId status attempts responseStatus responseExcerpt durationMs
          lastError nextAttemptAt finishedAt
        }
      }
    }
  }
}
"""

QUERY_ACCOUNTS = "query { accounts(first: 100) { nodes { id name } } }"

# A payload query: the ticket with its comments as the owner may see them.
TICKET_PAYLOAD = """
query TicketHook($id: ID!) {
  node(id: $id) {
    id
    ... on Ticket { number status comments { body internal } }
  }
}
"""

NODE_PAYLOAD = "query Hook($id: ID!) { node(id: $id) { id __typename } }"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    at: float

    @property
    def payload(self) -> Any:
        return orjson.loads(self.body)

    @property
    def signatures(self) -> list[str]:
        return self.headers["webhook-signature"].split(" ")


@dataclass
class Receiver:
    """Answers each request with the next scripted action (default 200): a status code, or
    "timeout" (answers only after `slow_seconds`)."""

    secrets: list[str] = field(default_factory=list)
    script: list[int | str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    slow_seconds: float = 1.5
    big_body: bool = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        now = int(time.time())
        verified = bool(self.secrets) and all(
            signing.verify(secret, headers, body, now=now) for secret in self.secrets
        )
        self.received.append(Received(headers, body, verified, time.monotonic()))
        action = self.script.pop(0) if self.script else 200
        extra: list[tuple[bytes, bytes]] = []
        if action == "timeout":
            await asyncio.sleep(self.slow_seconds)
            status = 200
        else:
            status = int(action)
        if 300 <= status < 400:
            extra.append((b"location", b"http://127.0.0.1:9/elsewhere"))
        answer = b"x" * 5000 if self.big_body else f"answer {status}".encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain"), *extra],
            }
        )
        await send({"type": "http.response.body", "body": answer})
