"""Seeds the demo fleet. `small` is for people trying the portal (and for the tests); `large`
is the benchmark fleet (20,000 devices over 200 sites, over 2 million readings), bulk-inserted.

Deterministic: the same scale gives the same data, so tests and benchmarks can name things."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from tqdm import tqdm

from auth.passwords import hash_password
from calendars.business_hours import clock_columns
from core import clock
from demo.articles import ARTICLES
from demo.toner import (
    SPIKE_FACTOR,
    STALE_GAP_DAYS,
    Toner,
    TonerHistory,
    has_gap,
    has_spike,
    has_unknown_levels,
    simulate,
)
from demo.usage import USAGE_GENERATORS, OfficeUsage
from forecasting.meters import FLAG_BITS, Flag
from forecasting.toner import meter_for
from models import (
    Account,
    ApiClient,
    CartridgeReplacement,
    Consumable,
    Contract,
    Device,
    KnowledgeArticle,
    KnowledgeArticleTranslation,
    Membership,
    MembershipDevice,
    MembershipStockLocation,
    MeterReading,
    MeterUsageMonth,
    Payment,
    ProductModel,
    ProductModelMeter,
    Site,
    StockLevel,
    StockLocation,
    Ticket,
    TicketComment,
    TicketEvent,
    TicketNumberCounter,
    TonerLevel,
    TonerLevelReport,
    User,
    product_model_consumables,
)
from models.enums import (
    ConsumableKind,
    CreditStatus,
    DeviceStatus,
    MeterType,
    ReadingSource,
    Role,
    TicketStatus,
    TicketType,
    TonerColour,
)
from resolvers.loaders.tickets import device_calendars
from resolvers.ticket_clock import account_calendar
from resolvers.usage_rollup import month_start, row_values, spread
from settings import Settings

DEMO_PASSWORD = "demo-password"
DEMO_CLIENT_ID = "emaintenance-demo"
DEMO_CLIENT_SECRET = "demo-client-secret"

M = MeterType
# name, manufacturer, colour, max pages/day, meters, serial prefix
MODELS: list[tuple[str, str, bool, int, tuple[MeterType, ...], str]] = [
    ("Lumen M400", "Lumen", False, 3000, (M.TOTAL, M.BLACK, M.SCAN), "LM4"),
    ("Lumen M600", "Lumen", False, 6000, (M.TOTAL, M.BLACK, M.SCAN), "LM6"),
    ("Lumen C450", "Lumen", True, 4000, (M.TOTAL, M.BLACK, M.COLOUR, M.SCAN), "LC4"),
    ("Lumen C750", "Lumen", True, 8000, (M.TOTAL, M.BLACK, M.COLOUR, M.SCAN), "LC7"),
    ("Vista P20", "Vista", False, 1500, (M.TOTAL, M.BLACK), "VP2"),
    ("Vista W36 Wide", "Vista", True, 600, (M.TOTAL, M.LARGE_BLACK, M.LARGE_COLOUR), "VW3"),
]

# Rated yield per toner (pages, ISO/IEC 19752 mono / 19798 colour): (black, colour), by prefix.
RATED_YIELDS: dict[str, tuple[int, int]] = {
    "LM4": (12_000, 0),
    "LM6": (25_000, 0),
    "LC4": (12_000, 8_000),
    "LC7": (28_000, 20_000),
    "VP2": (3_000, 0),
    "VW3": (6_000, 4_000),
}

# account key, name, customer no., system no., country, language, parent key
ACCOUNTS = [
    ("acme", "Acme Group", "C-100000", "S-900000", "FR", "en", None),
    ("acme-fr", "Acme France", "C-100100", "S-900100", "FR", "fr", "acme"),
    ("acme-it", "Acme Italia", "C-100200", "S-900200", "IT", "it", "acme"),
    ("acme-de", "Acme Deutschland", "C-100300", "S-900300", "DE", "en", "acme"),
    ("acme-fr-sud", "Acme France Sud", "C-100110", "S-900110", "FR", "fr", "acme-fr"),
    ("globex", "Globex Corporation", "C-200000", "S-910000", "GB", "en", None),
]

# account key, site name, street, postal code, city, country, time zone
SITES = [
    ("acme", "Acme Group HQ", "1 Place de la Défense", "92400", "Courbevoie", "FR", "Europe/Paris"),
    ("acme-fr", "Paris Opéra", "12 Rue Auber", "75009", "Paris", "FR", "Europe/Paris"),
    ("acme-fr", "Lille Europe", "3 Avenue Le Corbusier", "59000", "Lille", "FR", "Europe/Paris"),
    (
        "acme-fr-sud",
        "Marseille Port",
        "8 Quai du Lazaret",
        "13002",
        "Marseille",
        "FR",
        "Europe/Paris",
    ),
    (
        "acme-fr-sud",
        "Fort-de-France",
        "5 Rue Victor Hugo",
        "97200",
        "Fort-de-France",
        "FR",
        "America/Martinique",
    ),
    ("acme-it", "Milano Centrale", "Via Vittor Pisani 10", "20124", "Milano", "IT", "Europe/Rome"),
    ("acme-it", "Roma Eur", "Viale Europa 190", "00144", "Roma", "IT", "Europe/Rome"),
    ("acme-it", "Torino Lingotto", "Via Nizza 262", "10126", "Torino", "IT", "Europe/Rome"),
    ("acme-de", "Berlin Mitte", "Friedrichstraße 68", "10117", "Berlin", "DE", "Europe/Berlin"),
    ("acme-de", "München Ost", "Rosenheimer Str. 143", "81671", "München", "DE", "Europe/Berlin"),
    ("globex", "Globex London", "30 St Mary Axe", "EC3A 8EP", "London", "GB", "Europe/London"),
    (
        "globex",
        "Globex New York",
        "350 Fifth Avenue",
        "10118",
        "New York",
        "US",
        "America/New_York",
    ),
]

DEMO_USERS = [
    # e-mail, name, language, agent, [(account key, role)]
    ("agent@vendor.example", "Vera Agent", "en", True, []),
    ("admin@acme.example", "Alice Admin", "en", False, [("acme", Role.ADMINISTRATOR)]),
    ("admin.fr@acme.example", "François Admin", "fr", False, [("acme-fr", Role.ADMINISTRATOR)]),
    ("devices@acme.example", "Daniel Devices", "fr", False, [("acme-fr", Role.DEVICE_MANAGER)]),
    ("stock@acme.example", "Stella Stock", "it", False, [("acme-it", Role.STOCK_MANAGER)]),
    (
        "devstock@acme.example",
        "Dieter Devstock",
        "en",
        False,
        [("acme-de", Role.DEVICE_STOCK_MANAGER)],
    ),
    ("kb@acme.example", "Karl Knowledge", "en", False, [("acme", Role.KNOWLEDGE_USER)]),
    ("admin@globex.example", "Gloria Globex", "en", False, [("globex", Role.ADMINISTRATOR)]),
]


@dataclass
class Summary:
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, n: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


async def _insert(conn: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(table), rows)


async def _insert_returning_ids(
    conn: AsyncConnection, model: Any, rows: list[dict[str, Any]]
) -> list[int]:
    if not rows:
        return []
    result = await conn.execute(
        insert(model).returning(model.id, sort_by_parameter_order=True), rows
    )
    return [r[0] for r in result]


async def is_empty(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return not (await conn.scalar(select(func.count()).select_from(Account)))


async def seed_demo(
    engine: AsyncEngine, scale: str = "small", progress: bool = True, usage: str = "independent"
) -> Summary:
    """Seeds the demo; `usage` is the generator of the pages printed (demo/usage.py)."""
    if usage not in USAGE_GENERATORS:
        raise ValueError(f"unknown usage generator {usage!r}")
    rng = random.Random(20261124)
    summary = Summary()
    today = clock.utc_today()
    async with engine.begin() as conn:
        model_ids, model_meters, consumables_by_model = await _seed_catalogue(conn, summary)
        account_ids = await _seed_accounts(conn, summary)
        site_rows = await _seed_sites(conn, rng, scale, account_ids, summary)
        contracts = await _seed_contracts(conn, rng, today, account_ids, summary)
        stock_locations = await _seed_stock_locations(
            conn, rng, site_rows, consumables_by_model, summary
        )
        devices = await _seed_devices(
            conn, rng, scale, today, site_rows, model_ids, contracts, stock_locations, summary
        )
        toners = await _toners_by_model(conn, model_meters)
        await _seed_toner_levels(conn, rng, devices, consumables_by_model, toners, summary)
        await _seed_readings(
            conn, rng, scale, today, devices, model_meters, toners, summary, progress, usage
        )
        user_ids = await _seed_users(conn, rng, account_ids, devices, stock_locations, summary)
        await _seed_tickets(conn, rng, scale, devices, account_ids, user_ids, summary)
        await _seed_payments(conn, rng, today, account_ids, summary)
        await _seed_articles(conn, model_ids, summary)
        await _seed_api_client(conn, summary)
    return summary


async def _seed_catalogue(
    conn: AsyncConnection, summary: Summary
) -> tuple[dict[str, int], dict[int, tuple[MeterType, ...]], dict[int, list[int]]]:
    ids = await _insert_returning_ids(
        conn,
        ProductModel,
        [
            {"name": n, "manufacturer": m, "colour": c, "max_pages_per_day": p}
            for n, m, c, p, _, _ in MODELS
        ],
    )
    model_ids = {spec[0]: pk for spec, pk in zip(MODELS, ids, strict=True)}
    model_meters = {pk: spec[4] for spec, pk in zip(MODELS, ids, strict=True)}
    await _insert(
        conn,
        ProductModelMeter,
        [
            {"product_model_id": pk, "meter": meter}
            for pk, meters in model_meters.items()
            for meter in meters
        ],
    )
    consumables_by_model: dict[int, list[int]] = {}
    for (name, _, colour, _, _, prefix), pk in zip(MODELS, ids, strict=True):
        colours = list(TonerColour) if colour else [TonerColour.BLACK]
        rows = [
            {
                "sku": f"{prefix}-T{c.value[0]}",
                "name": f"{name} toner {c.value.lower()}",
                "kind": ConsumableKind.TONER,
                "colour": c,
                "reorder_threshold_percent": 15,
                "rated_yield_pages": RATED_YIELDS[prefix][0 if c is TonerColour.BLACK else 1],
            }
            for c in colours
        ]
        rows.append(
            {
                "sku": f"{prefix}-DR",
                "name": f"{name} drum unit",
                "kind": ConsumableKind.DRUM,
                "colour": None,
                "reorder_threshold_percent": 10,
                "rated_yield_pages": None,
            }
        )
        cids = await _insert_returning_ids(conn, Consumable, rows)
        consumables_by_model[pk] = cids
        await _insert(
            conn,
            product_model_consumables,
            [{"product_model_id": pk, "consumable_id": cid} for cid in cids],
        )
    summary.add("product_models", len(ids))
    return model_ids, model_meters, consumables_by_model


async def _seed_accounts(conn: AsyncConnection, summary: Summary) -> dict[str, int]:
    account_ids: dict[str, int] = {}
    for key, name, cust, system, country, language, parent in ACCOUNTS:
        [pk] = await _insert_returning_ids(
            conn,
            Account,
            [
                {
                    "name": name,
                    "customer_account_number": cust,
                    "system_account_number": system,
                    "country": country,
                    "language": language,
                    "parent_id": account_ids[parent] if parent else None,
                    "credit_status": CreditStatus.WATCH if key == "acme-it" else CreditStatus.GOOD,
                    "credit_limit": Decimal("50000.00"),
                }
            ],
        )
        account_ids[key] = pk
    summary.add("accounts", len(account_ids))
    return account_ids


@dataclass(frozen=True)
class SiteRow:
    id: int
    account_id: int
    account_key: str
    country: str
    time_zone: str


async def _seed_sites(
    conn: AsyncConnection,
    rng: random.Random,
    scale: str,
    account_ids: dict[str, int],
    summary: Summary,
) -> list[SiteRow]:
    specs = list(SITES)
    if scale == "large":
        # Many more sites for the group, spread over the subsidiaries' countries.
        extra_countries = [
            ("acme-fr", "FR", "Europe/Paris"),
            ("acme-it", "IT", "Europe/Rome"),
            ("acme-de", "DE", "Europe/Berlin"),
            ("acme-fr-sud", "FR", "Europe/Paris"),
        ]
        for n in range(200 - len(specs)):
            key, country, tz = extra_countries[n % len(extra_countries)]
            specs.append(
                (
                    key,
                    f"Branch {n + 1:03d}",
                    f"{n + 1} Main Street",
                    f"{10000 + n}",
                    f"City {n + 1:03d}",
                    country,
                    tz,
                )
            )
    rows = [
        {
            "account_id": account_ids[k],
            "name": n,
            "street": s,
            "postal_code": p,
            "city": c,
            "country": co,
            "time_zone": tz,
        }
        for k, n, s, p, c, co, tz in specs
    ]
    ids = await _insert_returning_ids(conn, Site, rows)
    summary.add("sites", len(ids))
    return [
        SiteRow(pk, account_ids[spec[0]], spec[0], spec[5], spec[6])
        for spec, pk in zip(specs, ids, strict=True)
    ]


async def _seed_contracts(
    conn: AsyncConnection,
    rng: random.Random,
    today: date,
    account_ids: dict[str, int],
    summary: Summary,
) -> dict[int, tuple[int, int]]:
    """Per account: (active contract id, expired contract id)."""
    contracts: dict[int, tuple[int, int]] = {}
    for key, pk in account_ids.items():
        active, expired = await _insert_returning_ids(
            conn,
            Contract,
            [
                {
                    "account_id": pk,
                    "number": f"SC-{pk:04d}-A",
                    "starts_on": today - timedelta(days=400),
                    "ends_on": today + timedelta(days=30 if key == "acme-it" else 700),
                    "response_time_hours": 4 if key != "globex" else 8,
                    "coverage_start": time(8, 30),
                    "coverage_end": time(17, 30),
                    "coverage_days": "12345",
                },
                {
                    "account_id": pk,
                    "number": f"SC-{pk:04d}-X",
                    "starts_on": today - timedelta(days=1500),
                    "ends_on": today - timedelta(days=30),
                    "response_time_hours": 8,
                    "coverage_start": time(9, 0),
                    "coverage_end": time(17, 0),
                    "coverage_days": "12345",
                },
            ],
        )
        contracts[pk] = (active, expired)
    summary.add("contracts", 2 * len(contracts))
    return contracts


async def _seed_stock_locations(
    conn: AsyncConnection,
    rng: random.Random,
    sites: list[SiteRow],
    consumables_by_model: dict[int, list[int]],
    summary: Summary,
) -> dict[int, list[int]]:
    """Per account id: its stock location ids (one per site with e-Maintenance devices)."""
    by_account: dict[int, list[int]] = {}
    all_consumables = sorted({c for cs in consumables_by_model.values() for c in cs})
    for site in sites:
        [pk] = await _insert_returning_ids(
            conn,
            StockLocation,
            [
                {
                    "account_id": site.account_id,
                    "site_id": site.id,
                    "name": f"Store room {site.id}",
                    "shipping_instructions": "Deliver to the ground-floor reception, 8:00-16:00.",
                    "contact_name": "Reception",
                    "contact_phone": "+33 1 00 00 00 00",
                    "contact_email": f"store{site.id}@customer.example",
                }
            ],
        )
        by_account.setdefault(site.account_id, []).append(pk)
        await _insert(
            conn,
            StockLevel,
            [
                {
                    "stock_location_id": pk,
                    "consumable_id": c,
                    "quantity": rng.randint(0, 6),
                    "reorder_point": 2,
                }
                for c in rng.sample(all_consumables, 6)
            ],
        )
    summary.add("stock_locations", len(sites))
    return by_account


@dataclass(frozen=True)
class DeviceRow:
    id: int
    account_id: int
    model_id: int
    e_maintenance: bool
    installed_on: date
    stock_location_id: int | None


async def _seed_devices(
    conn: AsyncConnection,
    rng: random.Random,
    scale: str,
    today: date,
    sites: list[SiteRow],
    model_ids: dict[str, int],
    contracts: dict[int, tuple[int, int]],
    stock_locations: dict[int, list[int]],
    summary: Summary,
) -> list[DeviceRow]:
    total = 20_000 if scale == "large" else 200
    prefixes = {model_ids[spec[0]]: spec[5] for spec in MODELS}
    model_list = list(model_ids.values())
    site_stock = {}
    for account_id, locations in stock_locations.items():
        account_sites = [s for s in sites if s.account_id == account_id]
        for site, location in zip(account_sites, locations, strict=False):
            site_stock[site.id] = location
    rows: list[dict[str, Any]] = []
    meta: list[tuple[int, int, bool, date, int | None]] = []
    for n in range(total):
        site = sites[n % len(sites)]
        model_id = model_list[rng.randrange(len(model_list))]
        e_maint = rng.random() < 0.4
        installed = today - timedelta(days=rng.randint(400, 1500))
        active_contract, expired_contract = contracts[site.account_id]
        contract = expired_contract if n % 17 == 5 else active_contract
        stock_location = site_stock.get(site.id) if e_maint else None
        status = DeviceStatus.ACTIVE
        if n % 41 == 7:
            status = DeviceStatus.MOVE_PENDING
        elif n % 53 == 11:
            status = DeviceStatus.REMOVAL_PENDING
        rows.append(
            {
                "serial_number": f"{prefixes[model_id]}{n + 1:07d}",
                "asset_tag": f"AT-{site.account_key.upper()}-{n + 1:05d}" if n % 3 else None,
                "cost_center": f"CC-{(n % 12) + 100}",
                "product_model_id": model_id,
                "account_id": site.account_id,
                "site_id": site.id,
                "contract_id": contract,
                "stock_location_id": stock_location,
                "location_description": f"Floor {n % 6}, room {100 + n % 40}",
                "status": status,
                "e_maintenance": e_maint,
                "installed_on": installed,
            }
        )
        meta.append((site.account_id, model_id, e_maint, installed, stock_location))
    ids: list[int] = []
    for start in range(0, len(rows), 5000):
        ids += await _insert_returning_ids(conn, Device, rows[start : start + 5000])
    summary.add("devices", len(ids))
    return [DeviceRow(pk, *m) for pk, m in zip(ids, meta, strict=True)]


async def _toners_by_model(
    conn: AsyncConnection, model_meters: dict[int, tuple[MeterType, ...]]
) -> dict[int, list[Toner]]:
    """The toners each model takes, with their rated yield and the meter they print on."""
    rows = await conn.execute(
        select(
            product_model_consumables.c.product_model_id,
            Consumable.id,
            Consumable.colour,
            Consumable.rated_yield_pages,
        )
        .join(Consumable, Consumable.id == product_model_consumables.c.consumable_id)
        .where(Consumable.kind == ConsumableKind.TONER)
        .order_by(Consumable.id)
    )
    toners: dict[int, list[Toner]] = {}
    for model_id, consumable_id, colour, rated in rows.tuples():
        meter = meter_for(TonerColour(colour).value, {m.value for m in model_meters[model_id]})
        if meter is not None and rated:
            toners.setdefault(model_id, []).append(Toner(consumable_id, rated, meter))
    return toners


async def _seed_toner_levels(
    conn: AsyncConnection,
    rng: random.Random,
    devices: list[DeviceRow],
    consumables_by_model: dict[int, list[int]],
    toners: dict[int, list[Toner]],
    summary: Summary,
) -> None:
    """Levels of what has no history (drums); toners get theirs with the readings."""
    rows = [
        {
            "device_id": d.id,
            "consumable_id": c,
            "percent": rng.randint(5, 100),
            "reported_at": clock.now(),
        }
        for d in devices
        if d.e_maintenance
        for c in consumables_by_model[d.model_id]
        if c not in {t.consumable_id for t in toners.get(d.model_id, [])}
    ]
    for start in range(0, len(rows), 10000):
        await _insert(conn, TonerLevel, rows[start : start + 10000])
    summary.add("toner_levels", len(rows))


def _reading_days(rng: random.Random, device: DeviceRow, scale: str, today: date) -> list[date]:
    start = max(device.installed_on, today - timedelta(days=365))
    step = 7 if (scale == "large" or device.e_maintenance) else 30
    # The newest reading is a few days old, so today's reading is still open.
    last = today - timedelta(days=rng.randint(2, 6))
    days = []
    day = last
    while day >= start:
        days.append(day)
        day -= timedelta(days=step)
    return list(reversed(days))


async def _seed_readings(
    conn: AsyncConnection,
    rng: random.Random,
    scale: str,
    today: date,
    devices: list[DeviceRow],
    model_meters: dict[int, tuple[MeterType, ...]],
    toners: dict[int, list[Toner]],
    summary: Summary,
    progress: bool,
    usage: str = "independent",
) -> None:
    batch: list[dict[str, Any]] = []
    months: list[dict[str, Any]] = []
    last_days: list[dict[str, Any]] = []
    levels = TonerHistory()
    count = 0
    now = clock.now()
    bar = tqdm(total=len(devices), desc="meter readings", unit="device", disable=not progress)
    for position, device in enumerate(devices):
        meters = model_meters[device.model_id]
        daily = rng.randint(40, 400)
        colour_share = rng.uniform(0.1, 0.5)
        values = {m: 0 for m in meters}
        black = rng.randint(5_000, 200_000)
        colour = int(black * colour_share)
        scans = rng.randint(1_000, 50_000)
        previous: date | None = None
        source = ReadingSource.REMOTE if device.e_maintenance else ReadingSource.PORTAL
        points: dict[MeterType, list[tuple[date, int]]] = {m: [] for m in meters}
        days = _reading_days(rng, device, scale, today)
        spike_day, gap_days = _planted(position, days)
        office = OfficeUsage(device.id * 7919 + 17) if usage == "office" else None
        for day in days:
            gap = (day - previous).days if previous else 1
            # drawn under either generator, so that the rest of the demo stays the same
            factor = rng.uniform(0.5, 1.5)
            if office is not None:
                factor = office.factor(day - timedelta(days=gap), day)
            printed = int(daily * gap * factor)
            if day in gap_days:
                continue  # planted: the device went unread
            flags = 0
            if day == spike_day:
                printed *= SPIKE_FACTOR  # planted: a week of runaway printing
                flags |= FLAG_BITS[Flag.SPIKE]
            if previous is not None and (day - previous).days > Settings.stale_device_days:
                flags |= FLAG_BITS[Flag.STALE_DEVICE]
                printed = int(daily * (day - previous).days)
            previous = day
            black += int(printed * (1 - colour_share))
            colour += int(printed * colour_share)
            scans += int(printed * 0.3)
            for meter in meters:
                if meter in (MeterType.BLACK, MeterType.LARGE_BLACK):
                    values[meter] = black
                elif meter in (MeterType.COLOUR, MeterType.LARGE_COLOUR):
                    values[meter] = colour
                elif meter is MeterType.SCAN:
                    values[meter] = scans
                else:
                    has_colour = any(
                        m in meters for m in (MeterType.COLOUR, MeterType.LARGE_COLOUR)
                    )
                    values[meter] = black + (colour if has_colour else 0)
                batch.append(
                    {
                        "device_id": device.id,
                        "meter": meter,
                        "reading_date": day,
                        "value": values[meter],
                        "source": source,
                        "created_at": now,
                        "flags": flags,
                    }
                )
                points[meter].append((day, values[meter]))
        months += _usage_months(device.id, points)
        if device.e_maintenance:
            unknown_from = days[-2] if has_unknown_levels(position) and len(days) > 2 else None
            for toner in toners.get(device.model_id, []):
                found = simulate(
                    device.id,
                    toner,
                    points[MeterType(toner.meter)],
                    unknown_from=unknown_from,
                    now=now,
                )
                levels.reports += found.reports
                levels.replacements += found.replacements
                levels.current += found.current
        if previous is not None:
            last_days.append({"device_id": device.id, "day": previous})
        if len(batch) >= 20_000:
            await _insert(conn, MeterReading, batch)
            await _insert(conn, MeterUsageMonth, months)
            count += len(batch)
            batch, months = [], []
            await _insert_levels(conn, levels, summary)
            levels = TonerHistory()
        bar.update(1)
    await _insert(conn, MeterReading, batch)
    await _insert(conn, MeterUsageMonth, months)
    await _insert_levels(conn, levels, summary)
    count += len(batch)
    bar.close()
    summary.add("meter_readings", count)
    # devices.last_reading_date (see resolvers.meters.record_reading_dates); days ascend.

    if last_days:
        await conn.execute(
            update(Device)
            .where(Device.id == bindparam("device_id"))
            .values(last_reading_date=bindparam("day")),
            last_days,
        )


def _planted(position: int, days: list[date]) -> tuple[date | None, set[date]]:
    """The planted anomalies of the device at `position`: the day of its runaway week (SPIKE)
    and the reading days skipped before its STALE_DEVICE reading."""
    spike = days[len(days) // 2] if has_spike(position) and len(days) > 8 else None
    gap: set[date] = set()
    if has_gap(position) and len(days) > 8:
        start = days[len(days) // 3]
        gap = {d for d in days if start <= d < start + timedelta(days=STALE_GAP_DAYS)}
    return spike, gap


async def _insert_levels(conn: AsyncConnection, levels: TonerHistory, summary: Summary) -> None:
    for start in range(0, len(levels.reports), 10000):
        await _insert(conn, TonerLevelReport, levels.reports[start : start + 10000])
    await _insert(conn, CartridgeReplacement, levels.replacements)
    await _insert(conn, TonerLevel, levels.current)
    summary.add("toner_level_reports", len(levels.reports))
    summary.add("cartridge_replacements", len(levels.replacements))


def _usage_months(
    device_id: int, points: dict[MeterType, list[tuple[date, int]]]
) -> list[dict[str, Any]]:
    """The usage rollup of a device's seeded readings (the write paths keep it up to date
    afterwards): the months its intervals cover."""
    return [
        row_values(device_id, meter, row)
        for meter, readings in points.items()
        if len(readings) > 1
        for row in spread(
            readings,
            month_start(readings[0][0] + timedelta(days=1)),
            month_start(readings[-1][0]),
        )
    ]


async def _seed_users(
    conn: AsyncConnection,
    rng: random.Random,
    account_ids: dict[str, int],
    devices: list[DeviceRow],
    stock_locations: dict[int, list[int]],
    summary: Summary,
) -> dict[str, int]:
    password_hash = hash_password(DEMO_PASSWORD)
    confirmed = clock.now()
    user_ids: dict[str, int] = {}
    for email, name, language, agent, memberships in DEMO_USERS:
        [uid] = await _insert_returning_ids(
            conn,
            User,
            [
                {
                    "email": email,
                    "name": name,
                    "language": language,
                    "is_agent": agent,
                    "password_hash": password_hash,
                    "email_confirmed_at": confirmed,
                }
            ],
        )
        user_ids[email] = uid
        for account_key, role in memberships:
            account_id = account_ids[account_key]
            [mid] = await _insert_returning_ids(
                conn, Membership, [{"user_id": uid, "account_id": account_id, "role": role}]
            )
            if role in (Role.DEVICE_MANAGER, Role.DEVICE_STOCK_MANAGER):
                mine = [d.id for d in devices if d.account_id == account_id][:5]
                await _insert(
                    conn, MembershipDevice, [{"membership_id": mid, "device_id": d} for d in mine]
                )
            if role in (Role.STOCK_MANAGER, Role.DEVICE_STOCK_MANAGER):
                await _insert(
                    conn,
                    MembershipStockLocation,
                    [{"membership_id": mid, "stock_location_id": stock_locations[account_id][0]}],
                )
    # Main contacts: the account's administrator.

    for email, _, _, _, memberships in DEMO_USERS:
        for account_key, role in memberships:
            if role is Role.ADMINISTRATOR:
                await conn.execute(
                    update(Account)
                    .where(Account.id == account_ids[account_key])
                    .values(main_contact_user_id=user_ids[email])
                )
    summary.add("users", len(user_ids))
    return user_ids


TICKET_TEXTS = [
    (
        TicketType.INCIDENT,
        "Paper jam in tray 2",
        "Paper jams every few pages since Monday.",
        "PAPER_JAM",
    ),
    (
        TicketType.INCIDENT,
        "Streaks on prints",
        "Vertical black streaks on every page.",
        "PRINT_QUALITY",
    ),
    (
        TicketType.INCIDENT,
        "Error code C3-1102",
        "The display shows C3-1102 after warm-up.",
        "ERROR_CODE",
    ),
    (TicketType.SUPPLIES, "Cyan toner needed", "Please send one cyan toner.", None),
    (TicketType.ACCOUNT_QUERY, "Invoice question", "Why did our March invoice double?", None),
]


async def _seed_tickets(
    conn: AsyncConnection,
    rng: random.Random,
    scale: str,
    devices: list[DeviceRow],
    account_ids: dict[str, int],
    user_ids: dict[str, int],
    summary: Summary,
) -> None:
    count = 60 if scale == "small" else 2000
    statuses = list(TicketStatus)
    agent = user_ids["agent@vendor.example"]
    now = clock.now()
    year = now.year
    customers_by_account = {
        account_ids["acme"]: user_ids["admin@acme.example"],
        account_ids["globex"]: user_ids["admin@globex.example"],
    }

    calendars = await device_calendars(conn)
    # Account questions run on their account's calendar (its main site), as in createTicket.
    async with AsyncSession(bind=conn) as session:
        accounts = list(await session.scalars(select(Account)))
        account_calendars = {a.id: await account_calendar(session, a, now) for a in accounts}
    for n in range(count):
        device = devices[(n * 7) % len(devices)]
        kind, summary_text, description, symptom = TICKET_TEXTS[n % len(TICKET_TEXTS)]
        status = statuses[n % len(statuses)]
        created = now - timedelta(hours=rng.randint(1, 24 * 90))
        creator = customers_by_account.get(device.account_id, user_ids["admin@acme.example"])
        row = {
            "number": f"T-{year}-{n + 1:06d}",
            "type": kind,
            "status": status,
            "account_id": device.account_id,
            "device_id": None if kind is TicketType.ACCOUNT_QUERY else device.id,
            "created_by_user_id": creator,
            "contact_name": "Demo Contact",
            "contact_email": "contact@customer.example",
            "contact_phone": "+33 1 23 45 67 89",
            "summary": summary_text,
            "description": description,
            "symptom_category": symptom,
            "details": {},
            "created_at": created,
            "updated_at": created,
            "resolved_at": created + timedelta(hours=5)
            if status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
            else None,
        }
        # Response clock in business hours; the agent's first status change (3 h in) answers.
        answered = status not in (TicketStatus.NEW, TicketStatus.ASSIGNED)
        calendar = (
            account_calendars.get(device.account_id)
            if kind is TicketType.ACCOUNT_QUERY
            else calendars.get(device.id)
        )
        row |= clock_columns(calendar, created, created + timedelta(hours=3) if answered else None)
        [tid] = await _insert_returning_ids(conn, Ticket, [row])
        [public_comment, internal_comment] = await _insert_returning_ids(
            conn,
            TicketComment,
            [
                {
                    "ticket_id": tid,
                    "author_user_id": creator,
                    "body": "Any news on this?",
                    "internal": False,
                    "created_at": created + timedelta(hours=1),
                },
                {
                    "ticket_id": tid,
                    "author_user_id": agent,
                    "body": "Customer called twice; credit on watch, check before dispatch.",
                    "internal": True,
                    "created_at": created + timedelta(hours=2),
                },
            ],
        )
        events = [
            {
                "ticket_id": tid,
                "actor_user_id": creator,
                "kind": "CREATED",
                "from_status": None,
                "to_status": TicketStatus.NEW,
                "created_at": created,
                "internal": False,
            }
        ]
        if status is not TicketStatus.NEW:
            events.append(
                {
                    "ticket_id": tid,
                    "actor_user_id": agent,
                    "kind": "STATUS_CHANGED",
                    "from_status": TicketStatus.NEW,
                    "to_status": status,
                    "created_at": created + timedelta(hours=3),
                    "internal": False,
                }
            )
        events.append(
            {
                "ticket_id": tid,
                "actor_user_id": agent,
                "kind": "COMMENTED",
                "comment_id": internal_comment,
                "created_at": created + timedelta(hours=2),
                "internal": True,
            }
        )
        events.append(
            {
                "ticket_id": tid,
                "actor_user_id": creator,
                "kind": "COMMENTED",
                "comment_id": public_comment,
                "created_at": created + timedelta(hours=1),
                "internal": False,
            }
        )
        keys = ("from_status", "to_status", "comment_id")
        await _insert(conn, TicketEvent, [{k: None for k in keys} | e for e in events])
    await _insert(conn, TicketNumberCounter, [{"year": year, "last_number": count}])
    summary.add("tickets", count)


async def _seed_payments(
    conn: AsyncConnection,
    rng: random.Random,
    today: date,
    account_ids: dict[str, int],
    summary: Summary,
) -> None:
    rows = []
    for pk in account_ids.values():
        for month in range(1, 7):
            due = today - timedelta(days=30 * month)
            rows.append(
                {
                    "account_id": pk,
                    "invoice_number": f"INV-{pk:03d}-{month:02d}",
                    "amount": Decimal(rng.randint(500, 9000)),
                    "currency": "EUR",
                    "due_on": due,
                    "paid_on": due + timedelta(days=rng.randint(-5, 20)) if month > 1 else None,
                }
            )
    await _insert(conn, Payment, rows)
    summary.add("payments", len(rows))


async def _seed_articles(
    conn: AsyncConnection, model_ids: dict[str, int], summary: Summary
) -> None:
    published_at = clock.now()
    for index, (slug, category, texts) in enumerate(ARTICLES):
        [aid] = await _insert_returning_ids(
            conn,
            KnowledgeArticle,
            [
                {
                    "slug": slug,
                    "category": category,
                    "published": True,
                    "published_at": published_at,
                    "product_model_id": model_ids["Lumen C450"] if index == 0 else None,
                }
            ],
        )
        await _insert(
            conn,
            KnowledgeArticleTranslation,
            [
                {"article_id": aid, "language": lang, "title": title, "body": body}
                for lang, (title, body) in texts.items()
            ],
        )
    summary.add("knowledge_articles", len(ARTICLES))


async def _seed_api_client(conn: AsyncConnection, summary: Summary) -> None:
    await _insert(
        conn,
        ApiClient,
        [
            {
                "client_id": DEMO_CLIENT_ID,
                "name": "e-Maintenance integration (demo)",
                "secret_hash": hash_password(DEMO_CLIENT_SECRET),
                "scopes": ["meter_readings:report", "toner_levels:report"],
            }
        ],
    )
    summary.add("api_clients", 1)
