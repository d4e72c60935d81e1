"""The closed vocabularies some options take, spelled here so that `--help` shows the choices without
importing the modules that own them (each costs a fifth of a second or more to import); every command turns
its choice into the owner's enum by value, and a test keeps the two spellings equal."""

from enum import StrEnum


class RoleChoice(StrEnum):
    """`optiinfra.access.principal.Role`."""

    VIEWER = "viewer"
    APPROVER = "approver"
    OPERATOR = "operator"
    ADMIN = "admin"


class LogFormatChoice(StrEnum):
    """`optiinfra.application.request_log.LogFormat`."""

    AUTO = "auto"
    AZURE = "azure"
    TIER1 = "tier1"


class TruthChoice(StrEnum):
    """`optiinfra.capacity.truth.TruthSource`."""

    SILICON = "silicon"
    ROOFLINE = "roofline"
