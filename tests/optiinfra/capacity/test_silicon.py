"""The shipped silicon tables against NVIDIA's aiconfigurator itself (a dev dependency, so this runs in CI):
interpolation off the grid stays close to the live database, and the tables say where they came from."""

import logging

import pytest

from optiinfra.capacity.silicon import (
    SILICON_BATCHES,
    SILICON_ISLS,
    SILICON_OSLS,
    SiliconKey,
    default_silicon_reference,
)
from optiinfra.capacity.silicon_build import live_estimator

H100_8B = SiliconKey("NVIDIA H100", "Llama-3.1-8B", 1)
L40S_70B = SiliconKey("NVIDIA L40S", "Llama-3.1-70B", 4)


def test_the_tables_cover_the_catalog_gpus_the_reference_measured_and_name_their_source() -> None:
    reference = default_silicon_reference()
    gpus = {key.gpu for key in reference.keys}
    assert gpus == {"NVIDIA H100", "NVIDIA H200", "NVIDIA L40S", "NVIDIA A100 80GB", "NVIDIA B200"}
    table = reference.table(H100_8B)
    assert table is not None
    described = table.provenance.describe()
    assert "aiconfigurator-core 0.12.0" in described and "h100_sxm" in described and "vllm" in described
    assert reference.table(SiliconKey("NVIDIA A10G", "Llama-3.1-8B", 1)) is None


def test_a_grid_point_reads_back_exactly_and_outside_the_grid_reads_nothing() -> None:
    table = default_silicon_reference().table(H100_8B)
    assert table is not None
    on_grid = table.at(2048, 256, 32)
    assert on_grid is not None
    between = table.at(3000, 256, 32)
    above = table.at(4096, 256, 32)
    assert between is not None and above is not None
    assert on_grid.ttft_ms < between.ttft_ms < above.ttft_ms
    assert table.at(SILICON_ISLS[-1] * 2, 128, 8) is None
    assert table.at(1024, SILICON_OSLS[-1] * 2, 8) is None
    assert table.at(1024, 128, SILICON_BATCHES[-1] * 2) is None


@pytest.mark.parametrize("key", [H100_8B, L40S_70B])
def test_interpolated_tables_stay_within_ten_percent_of_the_live_database(key: SiliconKey) -> None:
    logging.disable(logging.WARNING)
    try:
        live = live_estimator(key)
        table = default_silicon_reference().table(key)
        assert table is not None
        for isl, osl, batch in [(700, 100, 3), (3000, 200, 12), (6000, 300, 24), (1500, 50, 48)]:
            ttft, tpot, rps, fits = live.estimate(isl, osl, batch)
            found = table.at(isl, osl, batch)
            assert found is not None
            if not fits:  # the estimator refuses a deployment that runs out of memory: figures unused
                assert not found.fits, (key, isl, osl, batch)
                continue
            for name, shipped, truth in (
                ("ttft", found.ttft_ms, ttft),
                ("tpot", found.tpot_ms, tpot),
                ("requests/s", found.requests_per_s, rps),
            ):
                assert abs(shipped - truth) / truth < 0.1, (key, isl, osl, batch, name, shipped, truth)
    finally:
        logging.disable(logging.NOTSET)
