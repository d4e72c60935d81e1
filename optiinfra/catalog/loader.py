"""Reads the bundled GPU price catalog and hands out domain `InstanceType`s.

The catalog is read once per process and never mutated: every lookup returns a fresh copy, so a
caller that edits its `InstanceType` cannot change what the next caller sees.
"""

import copy
import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from optiinfra.domain.fleet import InstanceType

BUNDLED_PACKAGE = "optiinfra.catalog"
BUNDLED_FOLDER = "data"
BUNDLED_FILE = "gpu_instances.json"
SPEC_FIELDS = ("name", "vcpu", "memory_gib", "gpu_model", "gpu_count", "gpu_memory_gib")


class PriceCatalog:
    """EC2 accelerator instance types with their prices, per region."""

    def __init__(self, types: Mapping[tuple[str, str], InstanceType], source: Mapping[str, Any]) -> None:
        self._types = dict(types)
        self._source = dict(source)

    @classmethod
    def load_default(cls) -> "PriceCatalog":
        """The catalog shipped inside the package (built by `python -m optiinfra.catalog.build`)."""
        return _bundled_catalog()

    @classmethod
    def from_dict(cls, catalog: Mapping[str, Any]) -> "PriceCatalog":
        """Validate every entry up front so a malformed catalog fails at load, not mid-decision."""
        types = {
            (entry.region, entry.name): entry
            for raw in catalog["instance_types"]
            for entry in _instance_types_of(raw)
        }
        return cls(types, catalog.get("source", {}))

    @property
    def source(self) -> dict[str, Any]:
        """Where the figures come from: files, snapshot dates, licences."""
        return copy.deepcopy(self._source)

    def get(self, name: str, region: str) -> InstanceType:
        """One type's specs and prices in one region; KeyError names what the catalog does have."""
        found = self._types.get((region, name))
        if found is None:
            raise KeyError(self._unknown_message(name, region))
        return found.model_copy(deep=True)

    def types_in(self, region: str) -> list[InstanceType]:
        """All priced types in a region, by name; empty for a region the catalog does not cover."""
        return [
            found.model_copy(deep=True)
            for (found_region, _), found in sorted(self._types.items())
            if found_region == region
        ]

    def regions(self) -> list[str]:
        return sorted({region for region, _ in self._types})

    def _unknown_message(self, name: str, region: str) -> str:
        if region not in self.regions():
            return f"region {region!r} is not in the price catalog; it covers {', '.join(self.regions())}"
        if any(known_name == name for _, known_name in self._types):
            return f"instance type {name!r} has no Linux on-demand price in {region!r} in the price catalog"
        return f"instance type {name!r} is not in the price catalog (accelerator types only)"


def _instance_types_of(raw: Mapping[str, Any]) -> list[InstanceType]:
    """Flatten one catalog entry (specs plus per-region prices) into one InstanceType per region."""
    specs = {key: raw[key] for key in SPEC_FIELDS}
    return [InstanceType(region=region, **specs, **prices) for region, prices in raw["regions"].items()]


@cache
def _bundled_catalog() -> PriceCatalog:
    resource = resources.files(BUNDLED_PACKAGE).joinpath(BUNDLED_FOLDER).joinpath(BUNDLED_FILE)
    return PriceCatalog.from_dict(json.loads(resource.read_text(encoding="utf-8")))
