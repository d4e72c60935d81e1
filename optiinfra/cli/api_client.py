"""A small typed client of the control-plane API, used by the CLI commands."""

from types import TracebackType
from typing import Any, Self

import httpx

from api.responses import DecisionAccepted, OptimizationStarted, RecommendationDetail, RecommendationItem
from optiinfra.control.schedule_spec import ScanScheduleView
from optiinfra.domain.capacity_profiles import CapacityProfile
from optiinfra.domain.fleet import Workload
from workflows.contracts import JointStatus, OptimizationStatus

PAGE = 500


class ApiError(RuntimeError):
    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"HTTP {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class ApiClient:
    def __init__(self, base_url: str, token: str, timeout_s: float = 30.0) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._http.aclose()

    async def list_workloads(self) -> list[Workload]:
        return [Workload.model_validate(item) for item in await self._every_item("/v1/workloads")]

    async def start_optimization(
        self, customer_id: str, workload_id: str, agents: list[str]
    ) -> OptimizationStarted:
        body = {"customer_id": customer_id, "workload_id": workload_id, "agents": agents}
        return OptimizationStarted.model_validate(await self._request("POST", "/v1/optimizations", json=body))

    async def start_joint_optimization(self, customer_id: str, workload_id: str) -> str:
        body = {"customer_id": customer_id, "workload_id": workload_id}
        started = await self._request("POST", "/v1/joint-optimizations", json=body)
        return str(started["workflow_id"])

    async def joint_status(self, workflow_id: str) -> JointStatus:
        return JointStatus.model_validate(
            await self._request("GET", f"/v1/joint-optimizations/{workflow_id}")
        )

    async def optimization_status(self, workflow_id: str) -> OptimizationStatus:
        return OptimizationStatus.model_validate(
            await self._request("GET", f"/v1/optimizations/{workflow_id}")
        )

    async def list_recommendations(
        self, status: str | None = None, customer_id: str | None = None, workload_id: str | None = None
    ) -> list[RecommendationItem]:
        filters = {"status": status, "customer_id": customer_id, "workload_id": workload_id}
        params = {name: value for name, value in filters.items() if value}
        return [
            RecommendationItem.model_validate(item)
            for item in await self._every_item("/v1/recommendations", params)
        ]

    async def get_recommendation(self, recommendation_id: str) -> RecommendationDetail:
        return RecommendationDetail.model_validate(
            await self._request("GET", f"/v1/recommendations/{recommendation_id}")
        )

    async def decide(
        self, recommendation_id: str, decision: str, reason: str, note: str | None = None
    ) -> DecisionAccepted:
        """The decider is whoever the token belongs to; `note` is only shown beside it."""
        body = {"reason": reason, "approver": note}
        return DecisionAccepted.model_validate(
            await self._request("POST", f"/v1/recommendations/{recommendation_id}/{decision}", json=body)
        )

    async def create_schedule(self, body: dict[str, Any]) -> ScanScheduleView:
        return ScanScheduleView.model_validate(await self._request("POST", "/v1/schedules", json=body))

    async def list_schedules(self) -> list[ScanScheduleView]:
        return [ScanScheduleView.model_validate(item) for item in await self._every_item("/v1/schedules")]

    async def get_schedule(self, schedule_id: str, customer_id: str | None = None) -> ScanScheduleView:
        return ScanScheduleView.model_validate(
            await self._request("GET", f"/v1/schedules/{schedule_id}", params=_owner(customer_id))
        )

    async def set_schedule_paused(
        self, schedule_id: str, paused: bool, note: str = "", customer_id: str | None = None
    ) -> ScanScheduleView:
        action = "pause" if paused else "unpause"
        body = {"note": note} if note else None
        path = f"/v1/schedules/{schedule_id}/{action}"
        return ScanScheduleView.model_validate(
            await self._request("POST", path, json=body, params=_owner(customer_id))
        )

    async def delete_schedule(self, schedule_id: str, customer_id: str | None = None) -> None:
        await self._request("DELETE", f"/v1/schedules/{schedule_id}", params=_owner(customer_id))

    async def import_capacity_profile(self, profile: CapacityProfile) -> str:
        stored = await self._request("POST", "/v1/capacity-profiles", json=profile.model_dump(mode="json"))
        return str(stored["profile_id"])

    async def _every_item(self, path: str, params: dict[str, Any] | None = None) -> list[Any]:
        """Every item of a paged list, page by page."""
        items: list[Any] = []
        while True:
            page = await self._request(
                "GET", path, params={**(params or {}), "offset": len(items), "limit": PAGE}
            )
            items.extend(page["items"])
            if not page["items"] or len(items) >= page["total"]:
                return items

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._http.request(method, path, **kwargs)
        if response.is_error:
            raise ApiError(response.status_code, _detail(response))
        if response.status_code == 204:
            return None
        return response.json()


def _detail(response: httpx.Response) -> str:
    """An error answer's `detail` as one readable line: a validation error's list becomes
    `field: message; ...` rather than its raw JSON."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list) and all(isinstance(item, dict) and "msg" in item for item in detail):
        return "; ".join(_validation_problem(item) for item in detail)
    return str(detail)


def _validation_problem(item: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path"))
    return f"{where}: {item['msg']}" if where else str(item["msg"])


def _owner(customer_id: str | None) -> dict[str, str]:
    """A schedule's owner as the routes take it (none: a fleet-wide schedule, or the key's own customer's)."""
    return {"customer_id": customer_id} if customer_id else {}
