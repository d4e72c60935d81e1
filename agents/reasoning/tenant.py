"""Who a reasoning task is answered for: what their privacy tier lets a model see, and what they have
already spent on models today."""

from pydantic import BaseModel, ConfigDict, Field

from optiinfra.privacy.tiers import PrivacyTier


class Tenant(BaseModel):
    model_config = ConfigDict(frozen=True)

    customer_id: str
    privacy_tier: PrivacyTier = PrivacyTier.METRICS_ONLY
    spent_today_usd: float = Field(default=0.0, ge=0, description="Recorded model spend this UTC day")
