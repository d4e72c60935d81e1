from pathlib import Path

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

from optiinfra.engine.client import connect_temporal
from optiinfra.engine.devserver import running_dev_server
from optiinfra.engine.search_attributes import register_search_attributes
from optiinfra.settings import Settings
from workflows.search_attributes import registration_flags


async def test_a_bare_cluster_gets_the_search_attributes_once(tmp_path: Path) -> None:
    with running_dev_server(
        db_path=None, log_path=tmp_path / "t.log", headless=True, register_search_attributes=False
    ) as server:
        client = await connect_temporal(Settings(), server.address)
        assert await register_search_attributes(client, "default") == sorted(registration_flags())
        assert await register_search_attributes(client, "default") == []
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        assert set(registration_flags()) <= set(listed.custom_attributes)
