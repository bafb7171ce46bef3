"""Loaders for devices and product models."""

from __future__ import annotations

from sqlalchemy import ColumnElement

from models import Device, ProductModel
from resolvers.loaders.base import ByIdLoader
from resolvers.scoping import Scope


class DeviceByIdLoader(ByIdLoader[Device]):
    model = Device

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        return scope.devices_clause()


class ProductModelByIdLoader(ByIdLoader[ProductModel]):
    """Product models are reference data, visible to everyone signed in."""

    model = ProductModel
