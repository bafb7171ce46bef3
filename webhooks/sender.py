"""The webhook sender every worker runs: claims due deliveries of the webhook outbox, computes
each payload as the webhook's owner (through the `Renderer` the app gives it: the schema lives
above this package), signs it and POSTs it to the receiver.

- **At-least-once, never two workers on one delivery**: a delivery is claimed by pushing its
  `available_at` forward (a lease, `LEASE`) in one UPDATE that only matches due, pending rows;
  on PostgreSQL the candidates are locked `FOR UPDATE SKIP LOCKED` (workers pass over each
  other's rows instead of waiting), on SQLite (one writer at a time) the conditional UPDATE is
  the claim. A worker that dies mid-delivery leaves the row pending: it is retried once the
  lease runs out (the receiver may then see it twice, with the same `webhook-id`).
- **Order per object**: a delivery is claimed only when no earlier delivery of the same webhook
  about the same object is still pending, so a receiver sees one object's events in order.
- **Retries**: a failure (non-2xx, timeout, connection error) is retried with exponential
  backoff (with jitter: between half and all of base × 2^attempt) for `webhook_retry_hours` (72 h) after the event, then the delivery
  is FAILED. `webhook_disable_after_failures` failed attempts in a row disable the webhook and
  mail its owner; its pending deliveries then fail with WEBHOOK_DISABLED.
- **Targets**: see `webhooks.targets`; redirects are not followed (a 3xx is a failure), the
  timeout is `webhook_timeout_seconds`, and only the first `EXCERPT_BYTES` of a response are
  read and kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
import orjson
from sqlalchemy import ColumnElement, and_, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from core import clock
from core.polling import PollingLoop
from models import DeliveryStatus, Webhook, WebhookDelivery
from models.session import begin_writing
from settings import Settings
from webhooks import signing, targets

log = logging.getLogger("portal.webhooks")

LEASE = timedelta(minutes=2)
BATCH_SIZE = 50
CONCURRENCY = 10
EXCERPT_BYTES = 1024
USER_AGENT = "SelfServicePortal-Webhooks/1"


@dataclass(frozen=True)
class Claimed:
    """A claimed delivery with what its attempt needs of the webhook."""

    id: int
    webhook_id: int
    event: str
    subject_type: str
    subject_id: int
    internal: bool
    attempts: int
    created_at: datetime
    url: str
    query: str
    account_id: int | None
    owner_user_id: int | None
    secrets: tuple[str, ...]
    webhook_active: bool


@dataclass(frozen=True)
class Refusal:
    """No request is sent: the delivery ends with `status` and `reason` (a message code)."""

    status: DeliveryStatus
    reason: str


class Renderer(Protocol):
    """What the app provides: the payload computed as the owner (or why there is none), and
    the mail to the owner of a webhook that was disabled."""

    async def render(self, delivery: Claimed) -> dict[str, Any] | Refusal: ...

    async def notify_disabled(self, session: AsyncSession, webhook: Webhook) -> None: ...


def _pending(now: datetime) -> ColumnElement[bool]:
    earlier = aliased(WebhookDelivery)
    return and_(
        WebhookDelivery.status == DeliveryStatus.PENDING,
        WebhookDelivery.available_at <= now,
        ~exists().where(
            earlier.webhook_id == WebhookDelivery.webhook_id,
            earlier.subject_type == WebhookDelivery.subject_type,
            earlier.subject_id == WebhookDelivery.subject_id,
            earlier.status == DeliveryStatus.PENDING,
            earlier.id < WebhookDelivery.id,
        ),
    )


async def claim(
    sessionmaker: async_sessionmaker[AsyncSession], limit: int = BATCH_SIZE
) -> list[Claimed]:
    """One UPDATE ... RETURNING: the due deliveries this worker now holds for `LEASE`."""
    now = clock.now()
    async with sessionmaker() as session:
        await begin_writing(session)
        candidates = (
            select(WebhookDelivery.id)
            .where(_pending(now))
            .order_by(WebhookDelivery.available_at, WebhookDelivery.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True, of=WebhookDelivery)
        ids = list(
            await session.scalars(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id.in_(candidates.scalar_subquery()),
                    WebhookDelivery.status == DeliveryStatus.PENDING,
                    WebhookDelivery.available_at <= now,
                )
                .values(
                    available_at=now + LEASE,
                    attempts=WebhookDelivery.attempts + 1,
                    last_attempt_at=now,
                )
                .returning(WebhookDelivery.id)
                .execution_options(synchronize_session=False)
            )
        )
        rows = (
            await session.execute(
                select(WebhookDelivery, Webhook)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .where(WebhookDelivery.id.in_(ids))
                .order_by(WebhookDelivery.id)
            )
        ).all()
        claimed = [_claimed(delivery, webhook, now) for delivery, webhook in rows]
        await session.commit()
    return claimed


def _claimed(delivery: WebhookDelivery, webhook: Webhook, now: datetime) -> Claimed:
    in_use = [webhook.secret]
    if (
        webhook.previous_secret
        and webhook.previous_secret_expires_at is not None
        and webhook.previous_secret_expires_at > now
    ):
        in_use.append(webhook.previous_secret)
    return Claimed(
        id=delivery.id,
        webhook_id=webhook.id,
        event=delivery.event,
        subject_type=delivery.subject_type,
        subject_id=delivery.subject_id,
        internal=delivery.internal,
        attempts=delivery.attempts,
        created_at=delivery.created_at,
        url=webhook.url,
        query=webhook.query,
        account_id=webhook.account_id,
        owner_user_id=webhook.owner_user_id,
        secrets=tuple(in_use),
        webhook_active=webhook.is_active,
    )


def message_id(delivery_id: int) -> str:
    """The `webhook-id`: the same for every attempt of one delivery (receivers deduplicate)."""
    return f"msg_{delivery_id}"


@dataclass
class Attempt:
    status: int | None = None
    excerpt: str | None = None
    duration_ms: int | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookSender(PollingLoop):
    """Delivers due webhook deliveries; `start`/`stop` run it as the app's background loop,
    `deliver_pending` is one pass (tests call it directly)."""

    name = "webhook-sender"

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        renderer: Renderer,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.renderer = renderer
        self._transport = transport
        self.concurrency = concurrency
        self._http: httpx.AsyncClient | None = None
        super().__init__()

    # --- one pass -----------------------------------------------------------------------------

    async def deliver_pending(self, limit: int = BATCH_SIZE) -> int:
        """Claims up to `limit` due deliveries and attempts them (at most `concurrency` at
        once); returns how many were attempted."""
        claimed = await claim(self.sessionmaker, limit)
        if not claimed:
            return 0
        gate = asyncio.Semaphore(self.concurrency)

        async def one(delivery: Claimed) -> None:
            async with gate:
                try:
                    await self._attempt(delivery)
                except Exception:  # one bad delivery must not stop the others
                    log.exception("webhook delivery %s failed unexpectedly", delivery.id)

        await asyncio.gather(*(one(d) for d in claimed))
        return len(claimed)

    async def _attempt(self, delivery: Claimed) -> None:
        now = clock.now()
        if not delivery.webhook_active:
            await self._end(delivery, DeliveryStatus.FAILED, "WEBHOOK_DISABLED", Attempt())
            return
        if delivery.owner_user_id is None:
            await self._end(delivery, DeliveryStatus.FAILED, "WEBHOOK_OWNER_GONE", Attempt())
            return
        if now - delivery.created_at > timedelta(hours=self.settings.webhook_retry_hours):
            await self._end(delivery, DeliveryStatus.FAILED, "RETRIES_EXHAUSTED", Attempt())
            return
        rendered = await self.renderer.render(delivery)
        if isinstance(rendered, Refusal):
            await self._end(delivery, rendered.status, rendered.reason, Attempt())
            return
        try:
            address = await targets.check_resolved(delivery.url, self.settings)
        except targets.TargetRefused as refused:
            await self._end(delivery, DeliveryStatus.FAILED, refused.code, Attempt())
            return
        body = orjson.dumps(rendered)
        attempt = await self._post(delivery, body, address)
        if attempt.succeeded:
            await self._end(delivery, DeliveryStatus.SUCCEEDED, None, attempt)
        else:
            await self._retry_or_fail(delivery, attempt)

    async def _post(self, delivery: Claimed, body: bytes, address: str | None) -> Attempt:
        """POSTs to the URL; with `address`, to that address (checked) with the URL's host
        name in the Host header and, over HTTPS, as the TLS server name (certificate checks
        are against the name)."""
        timestamp = int(clock.timestamp())
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **signing.headers(list(delivery.secrets), message_id(delivery.id), timestamp, body),
        }
        url = httpx.URL(delivery.url)
        extensions: dict[str, Any] = {}
        if address is not None:
            headers["host"] = url.netloc.decode("ascii")
            if url.scheme == "https":
                extensions["sni_hostname"] = url.host
            url = url.copy_with(host=address)
        started = time.monotonic()
        attempt = Attempt()
        try:
            request = self.http.build_request(
                "POST", url, content=body, headers=headers, extensions=extensions
            )
            async with contextlib.aclosing(await self.http.send(request, stream=True)) as response:
                attempt.status = response.status_code
                excerpt = bytearray()
                async for chunk in response.aiter_bytes():
                    excerpt += chunk
                    if len(excerpt) >= EXCERPT_BYTES:
                        break
                attempt.excerpt = bytes(excerpt[:EXCERPT_BYTES]).decode("utf-8", "replace")
            if not attempt.succeeded:
                attempt.error = f"HTTP_{attempt.status}"
        except httpx.TimeoutException:
            attempt.error = "TIMEOUT"
        except httpx.HTTPError as error:
            attempt.error = f"CONNECTION_FAILED: {type(error).__name__}"
        attempt.duration_ms = int((time.monotonic() - started) * 1000)
        return attempt

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=self.settings.webhook_timeout_seconds,
                follow_redirects=False,
                transport=self._transport,
                trust_env=False,
            )
        return self._http

    def _backoff(self, attempts: int) -> timedelta:
        """Equal jitter: a random delay between half and all of base × 2^(attempts-1), capped."""
        ceiling = min(
            self.settings.webhook_backoff_base_seconds * 2 ** min(attempts - 1, 30),
            self.settings.webhook_backoff_max_seconds,
        )
        return timedelta(seconds=random.uniform(ceiling / 2, ceiling))

    async def _retry_or_fail(self, delivery: Claimed, attempt: Attempt) -> None:
        next_at = clock.now() + self._backoff(delivery.attempts)
        deadline = delivery.created_at + timedelta(hours=self.settings.webhook_retry_hours)
        async with self.sessionmaker() as session:
            await begin_writing(session)
            if next_at > deadline:
                await self._finish(
                    session, delivery, DeliveryStatus.FAILED, attempt, "RETRIES_EXHAUSTED"
                )
            else:
                await session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == delivery.id)
                    .values(
                        available_at=next_at,
                        response_status=attempt.status,
                        response_excerpt=attempt.excerpt,
                        duration_ms=attempt.duration_ms,
                        last_error=(attempt.error or "")[:300] or None,
                    )
                    .execution_options(synchronize_session=False)
                )
            failures = await session.scalar(
                update(Webhook)
                .where(Webhook.id == delivery.webhook_id)
                .values(consecutive_failures=Webhook.consecutive_failures + 1)
                .returning(Webhook.consecutive_failures)
                .execution_options(synchronize_session=False)
            )
            if failures is not None and failures >= self.settings.webhook_disable_after_failures:
                await self._disable(session, delivery.webhook_id)
            await session.commit()
        log.info(
            "webhook delivery %s to %s failed (attempt %s): %s",
            delivery.id,
            delivery.url,
            delivery.attempts,
            attempt.error,
        )

    async def _disable(self, session: AsyncSession, webhook_id: int) -> None:
        webhook = await session.scalar(
            select(Webhook).where(Webhook.id == webhook_id, Webhook.is_active.is_(True))
        )
        if webhook is None:
            return
        webhook.is_active = False
        webhook.disabled_reason = "TOO_MANY_FAILURES"
        webhook.updated_at = clock.now()
        # Its other pending deliveries end now (the one in hand is settled by the caller).
        await session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.webhook_id == webhook_id,
                WebhookDelivery.status == DeliveryStatus.PENDING,
            )
            .values(
                status=DeliveryStatus.FAILED,
                finished_at=clock.now(),
                last_error="WEBHOOK_DISABLED",
            )
            .execution_options(synchronize_session=False)
        )
        await self.renderer.notify_disabled(session, webhook)
        log.warning("webhook %s disabled after repeated failures", webhook_id)

    async def _end(
        self, delivery: Claimed, status: DeliveryStatus, reason: str | None, attempt: Attempt
    ) -> None:
        async with self.sessionmaker() as session:
            await begin_writing(session)
            await self._finish(session, delivery, status, attempt, reason)
            if status is DeliveryStatus.SUCCEEDED:
                await session.execute(
                    update(Webhook)
                    .where(Webhook.id == delivery.webhook_id, Webhook.consecutive_failures != 0)
                    .values(consecutive_failures=0)
                    .execution_options(synchronize_session=False)
                )
            await session.commit()

    @staticmethod
    async def _finish(
        session: AsyncSession,
        delivery: Claimed,
        status: DeliveryStatus,
        attempt: Attempt,
        reason: str | None,
    ) -> None:
        # The claim counted an attempt; none was made when the delivery ends before a request.
        attempts = delivery.attempts if attempt.duration_ms is not None else delivery.attempts - 1
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery.id)
            .values(
                status=status,
                attempts=attempts,
                finished_at=clock.now(),
                response_status=attempt.status,
                response_excerpt=attempt.excerpt,
                duration_ms=attempt.duration_ms,
                last_error=(reason or attempt.error or "")[:300] or None,
            )
            .execution_options(synchronize_session=False)
        )

    # --- the background loop ------------------------------------------------------------------

    @property
    def poll_seconds(self) -> float:
        return self.settings.webhook_poll_seconds

    async def run_pass(self) -> bool:
        return await self.deliver_pending() >= BATCH_SIZE

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Lets deliveries in progress finish (up to `grace_seconds`); one cut off is sent
        again once its lease runs out."""
        await super().stop(grace_seconds)
        if self._http is not None:
            await self._http.aclose()
            self._http = None
