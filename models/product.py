"""Product models, the meters each has, and the consumables they take."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, IdMixin, str_enum
from models.enums import ConsumableKind, MeterType, TonerColour


class ProductModel(IdMixin, Base):
    __tablename__ = "product_models"

    manufacturer: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100), unique=True)
    colour: Mapped[bool] = mapped_column(default=False)
    # Used to refuse implausible readings: more pages than the machine can print.
    max_pages_per_day: Mapped[int] = mapped_column()

    __table_args__ = (CheckConstraint("max_pages_per_day > 0", name="max_pages_positive"),)


class ProductModelMeter(Base):
    """Which meters a model has (a mono printer has no COLOUR meter)."""

    __tablename__ = "product_model_meters"

    product_model_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("product_models.id", ondelete="CASCADE"), primary_key=True
    )
    meter: Mapped[MeterType] = mapped_column(str_enum(MeterType, "meter_type"), primary_key=True)


class Consumable(IdMixin, Base):
    __tablename__ = "consumables"

    sku: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[ConsumableKind] = mapped_column(str_enum(ConsumableKind, "consumable_kind"))
    colour: Mapped[TonerColour | None] = mapped_column(str_enum(TonerColour, "toner_colour"))
    # A reported level at or under this percentage triggers a replenishment order.
    reorder_threshold_percent: Mapped[int] = mapped_column(default=15)
    # Pages a cartridge prints by the manufacturer's declared yield (ISO/IEC 19752 for mono,
    # ISO/IEC 19798 for colour toner: 5 % coverage); null when none is declared.
    rated_yield_pages: Mapped[int | None] = mapped_column()

    __table_args__ = (
        CheckConstraint("reorder_threshold_percent BETWEEN 0 AND 100", name="threshold_is_percent"),
        CheckConstraint("rated_yield_pages > 0", name="rated_yield_positive"),
    )


product_model_consumables = Table(
    "product_model_consumables",
    Base.metadata,
    Column(
        "product_model_id",
        BigId,
        ForeignKey("product_models.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "consumable_id", BigId, ForeignKey("consumables.id", ondelete="CASCADE"), primary_key=True
    ),
)
