"""The custom search attributes the project registers, so the Temporal UI and CLI can filter on them,
e.g. `temporal workflow list --query 'OptiStatus="pending_approval"'`."""

from temporalio.common import SearchAttributeKey

OPTI_CUSTOMER = SearchAttributeKey.for_keyword("OptiCustomer")
OPTI_WORKLOAD = SearchAttributeKey.for_keyword("OptiWorkload")
OPTI_AGENT = SearchAttributeKey.for_keyword("OptiAgent")
OPTI_STATUS = SearchAttributeKey.for_keyword("OptiStatus")
OPTI_SAVINGS_USD = SearchAttributeKey.for_float("OptiSavingsUsd")
OPTI_SCAN_PROGRESS = SearchAttributeKey.for_int("OptiScanProgress")
"""A fleet scan's workloads listed so far."""

SCHEDULED_START_TIME = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
"""Set by the Temporal server on every workflow a Schedule starts: the tick's nominal time (not one of ours:
not registered)."""

ALL = (OPTI_CUSTOMER, OPTI_WORKLOAD, OPTI_AGENT, OPTI_STATUS, OPTI_SAVINGS_USD, OPTI_SCAN_PROGRESS)


def registration_flags() -> dict[str, str]:
    """Name -> Temporal type name, as `temporal server start-dev --search-attribute` expects."""
    type_names = {"KEYWORD": "Keyword", "DOUBLE": "Double", "INT": "Int"}
    return {key.name: type_names[key.indexed_value_type.name] for key in ALL}
