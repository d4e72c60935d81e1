"""What one metrics-collection pass over a workload wrote, and what failed."""

from pydantic import BaseModel, Field


class CollectionReport(BaseModel):
    customer_id: str
    workload_id: str
    utilization_rows: int = 0
    cost_rows: int = 0
    window_rows: int = 0
    primed_replicas: int = 0
    failures: list[str] = Field(default_factory=list)
