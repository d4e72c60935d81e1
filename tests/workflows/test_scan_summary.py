"""The fleet scan's summary: every outcome counted, the ids kept only up to SUMMARY_IDS per list."""

from workflows.contracts import SUMMARY_IDS, FleetScanSummary


def test_each_outcome_is_counted_in_full_and_its_ids_kept_up_to_the_limit() -> None:
    summary = FleetScanSummary()
    for n in range(SUMMARY_IDS + 5):
        summary.add("started", f"run-{n}")
    summary.add("failures", "run-x: boom")
    summary.add("already_running", "run-y")
    for _ in range(2):
        summary.add("skipped_in_flight", "acme/chat: held")

    assert summary.started_count == SUMMARY_IDS + 5
    assert summary.started == [f"run-{n}" for n in range(SUMMARY_IDS)]
    assert (summary.failure_count, summary.failures) == (1, ["run-x: boom"])
    assert (summary.already_running_count, summary.already_running) == (1, ["run-y"])
    assert summary.skipped_in_flight_count == 2
