"""Dynamo validates an `ais_perf_model` role through `_native.RustForwardPassPerfModel.normalize_config`."""

from aisimulate_core.sdk import RustForwardPassPerfModel

__all__ = ["RustForwardPassPerfModel"]
