"""Traffic for the fleet twin: loaders for the real public traces (ServeGen, Azure, Mooncake), a prefix-cache
replay, and a seeded synthetic generator calibrated to those traces."""

from optiinfra.domain.rates import RateWindow
from optiinfra.sim.traffic.azure import load_azure_trace
from optiinfra.sim.traffic.generator import (
    TrafficGenerator,
    calibrate_from,
    calibrate_from_data_dir,
    default_generator,
)
from optiinfra.sim.traffic.models import (
    BLOCK_TOKENS,
    Request,
    TokenLengthMix,
    TokenPercentiles,
    TraceFormatError,
    TrafficProfile,
)
from optiinfra.sim.traffic.mooncake import load_mooncake_trace
from optiinfra.sim.traffic.prefix_cache import PrefixCache, PrefixReplayResult, replay_prefix_hits
from optiinfra.sim.traffic.servegen import (
    ClientWindow,
    aggregate_clients,
    load_servegen_aggregate,
    load_servegen_client,
    load_servegen_clients,
)

__all__ = [
    "BLOCK_TOKENS",
    "ClientWindow",
    "PrefixCache",
    "PrefixReplayResult",
    "RateWindow",
    "Request",
    "TokenLengthMix",
    "TokenPercentiles",
    "TraceFormatError",
    "TrafficGenerator",
    "TrafficProfile",
    "aggregate_clients",
    "calibrate_from",
    "calibrate_from_data_dir",
    "default_generator",
    "load_azure_trace",
    "load_mooncake_trace",
    "load_servegen_aggregate",
    "load_servegen_client",
    "load_servegen_clients",
    "replay_prefix_hits",
]
