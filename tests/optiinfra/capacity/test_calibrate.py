"""Per-GPU achieved fractions: the shipped calibration, the fallbacks, and the fit."""

import dataclasses
import json
from pathlib import Path

import pytest

from optiinfra.capacity import calibrate
from optiinfra.capacity.calibrate import FitPoint, fit, log_errors
from optiinfra.capacity.closed_loop import closed_loop_point
from optiinfra.capacity.efficiency import (
    DATASHEET_EFFICIENCY,
    Calibration,
    StepEfficiency,
    shipped_calibration,
)
from optiinfra.capacity.gpus import A10G, H100, L40S
from optiinfra.capacity.models import LLAMA_3_1_8B, LLAMA_3_1_70B
from optiinfra.capacity.roofline import ServingConfig, allreduce_seconds, step_seconds


def test_covered_gpus_run_at_their_shipped_fractions_and_others_at_the_datasheets() -> None:
    shipped = shipped_calibration()

    assert shipped.for_gpu(H100.name) is not None and shipped.for_gpu(L40S.name) is not None
    assert H100.achieved == shipped.for_gpu(H100.name)
    assert shipped.for_gpu(A10G.name) is None
    assert A10G.achieved == DATASHEET_EFFICIENCY
    assert "silicon tables" in shipped.provenance["fitted_to"]


def test_a_gpus_own_fractions_win_and_change_its_step_times() -> None:
    slow = dataclasses.replace(H100, efficiency=dataclasses.replace(DATASHEET_EFFICIENCY, bandwidth=0.4))
    fast = dataclasses.replace(H100, efficiency=dataclasses.replace(DATASHEET_EFFICIENCY, bandwidth=0.8))

    assert slow.achieved.bandwidth == 0.4
    decode = [
        step_seconds(ServingConfig(gpu, 1, LLAMA_3_1_8B), 1, decode_context=1000) for gpu in (slow, fast)
    ]
    assert decode[0] > 1.8 * decode[1] - 0.002


def test_fractions_outside_their_range_are_refused() -> None:
    with pytest.raises(ValueError, match="bandwidth"):
        StepEfficiency(bandwidth=1.2, matmul=0.5, interconnect=0.5, step_overhead_s=0.001)
    with pytest.raises(ValueError, match="negative"):
        StepEfficiency(bandwidth=0.8, matmul=0.5, interconnect=0.5, step_overhead_s=-0.001)


def test_a_calibration_round_trips_through_its_document(tmp_path: Path) -> None:
    calibration = Calibration({H100.name: DATASHEET_EFFICIENCY}, {"fitted": "today"})
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(calibration.to_document()))

    assert Calibration.from_document(json.loads(path.read_text())) == calibration


def test_the_fit_recovers_fractions_that_generated_the_reference() -> None:
    truth = StepEfficiency(
        bandwidth=0.65, matmul=0.8, interconnect=0.5, step_overhead_s=0.002, request_overhead_s=0.01
    )
    config = ServingConfig(
        dataclasses.replace(H100, efficiency=truth), 1, LLAMA_3_1_8B, max_num_batched_tokens=8192
    )
    points = []
    for isl in (512, 4096):
        for batch in (1, 8, 32):
            found = closed_loop_point(config, float(isl), 128.0, float(batch))
            points.append(
                FitPoint(
                    dataclasses.replace(config, gpu=H100),
                    isl,
                    128,
                    batch,
                    (found.ttft_mean_s, found.itl_mean_s, found.requests_per_s),
                )
            )
    before = max(log_errors(points, DATASHEET_EFFICIENCY))

    fitted = fit(points)

    after = max(log_errors(points, fitted))
    assert before > 0.1
    assert after < 0.03
    assert fitted.bandwidth == pytest.approx(0.65, rel=0.1)
    assert fitted.matmul == pytest.approx(0.8, rel=0.15)


def test_the_fit_reads_the_shipped_tables_for_every_covered_gpu() -> None:
    points = calibrate.fit_points(H100, calibrate.default_silicon_reference())

    assert {p.config.tensor_parallel for p in points} == {1, 4, 8}
    assert all(p.reference[0] > 0 and p.reference[2] > 0 for p in points)


def test_a_pcie_ring_across_sockets_runs_at_its_own_fraction() -> None:
    slow_across = dataclasses.replace(DATASHEET_EFFICIENCY, interconnect=0.5, cross_domain_interconnect=0.05)
    l40s = dataclasses.replace(L40S, efficiency=slow_across)
    h100 = dataclasses.replace(H100, efficiency=slow_across)

    within = allreduce_seconds(ServingConfig(l40s, 4, LLAMA_3_1_70B), 1000)
    across = allreduce_seconds(ServingConfig(l40s, 8, LLAMA_3_1_70B), 1000)
    # Twice the GPUs cross the sockets at a tenth of the rate: far slower, where the ring alone
    # would grow by 1.75 / 1.5.
    assert across > 5 * within
    nvlink = [allreduce_seconds(ServingConfig(h100, tp, LLAMA_3_1_70B), 1000) for tp in (4, 8)]
    assert nvlink[1] < 1.5 * nvlink[0]
