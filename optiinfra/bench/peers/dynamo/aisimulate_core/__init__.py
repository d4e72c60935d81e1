"""A stand-in for NVIDIA's `aisimulate_core`, which ai-dynamo 1.6.1 imports for its forward-pass performance
model but ships only as a placeholder package (`aisimulate==0.13.0` downloads from a vendor index). It
provides the surface Dynamo's planner calls and answers every estimate with NVIDIA's silicon-measured
database, `aiconfigurator_core` (the predecessor of aisimulate with the same estimate API and units). Only the
forward-pass time is ours to supply; everything above it is Dynamo's planner."""

from aisimulate_core.sdk import ForwardPassPerfModelConfig, RustForwardPassPerfModel

__all__ = ["ForwardPassPerfModelConfig", "RustForwardPassPerfModel"]
