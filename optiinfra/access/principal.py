"""A caller, once authenticated: one customer's principal with a role, or a platform admin.

Roles form a ladder: each can do what the ones below it can. `viewer` reads; `approver` also approves and
rejects recommendations; `operator` also starts optimizations and edits workloads, schedules and data;
`admin` also changes the customer's policy, identity provider and keys."""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Role(StrEnum):
    VIEWER = "viewer"
    APPROVER = "approver"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def includes(self, needed: "Role") -> bool:
        return self.rank >= needed.rank


class Principal(BaseModel):
    """`customer_id` None: a platform admin, who acts on every customer."""

    model_config = ConfigDict(frozen=True)

    name: str
    role: Role
    customer_id: str | None

    @property
    def is_platform_admin(self) -> bool:
        return self.customer_id is None and self.role is Role.ADMIN

    def can_act_on(self, customer_id: str) -> bool:
        return self.customer_id is None or self.customer_id == customer_id

    def scope(self, customer_id: str | None) -> str | None:
        """The customer a list is narrowed to: a tenant's own, whatever it asked; a platform admin's choice.
        Raises `TenantError` when a tenant asks for another customer's items."""
        if self.customer_id is None:
            return customer_id
        if customer_id is not None and customer_id != self.customer_id:
            raise TenantError(f"{self.name} belongs to customer {self.customer_id}, not {customer_id}")
        return self.customer_id


class TenantError(PermissionError):
    """A principal asked for another customer's data."""


PLATFORM_TOKEN_PRINCIPAL = Principal(name="platform-token", role=Role.ADMIN, customer_id=None)
