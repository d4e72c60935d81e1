"""Two customers, each with a key of every role, made through the API as a platform admin would."""

from dataclasses import dataclass

import httpx

from optiinfra.access.principal import Role

WORKLOAD = {"name": "Chat", "model_name": "meta-llama/Llama-3.1-8B-Instruct", "region": "us-west-2"}
CUSTOMERS = ("acme", "globex")


@dataclass(frozen=True)
class Tenants:
    """`keys[customer][role]` is a bearer token; `key_ids` the same keys' ids."""

    keys: dict[str, dict[Role, str]]
    key_ids: dict[str, dict[Role, str]]

    def headers(self, customer: str, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[customer][role]}"}


async def make_tenants(api: httpx.AsyncClient) -> Tenants:
    keys: dict[str, dict[Role, str]] = {}
    key_ids: dict[str, dict[Role, str]] = {}
    for customer in CUSTOMERS:
        assert (
            await api.put(f"/v1/customers/{customer}", json={"name": customer.title()})
        ).status_code == 200
        assert (await api.put(f"/v1/customers/{customer}/workloads/chat", json=WORKLOAD)).status_code == 200
        keys[customer], key_ids[customer] = {}, {}
        for role in Role:
            made = await api.post(
                f"/v1/customers/{customer}/api-keys", json={"name": f"{role.value}-key", "role": role.value}
            )
            assert made.status_code == 201, made.text
            keys[customer][role] = made.json()["token"]
            key_ids[customer][role] = made.json()["key"]["key_id"]
    return Tenants(keys=keys, key_ids=key_ids)
