"""A customer's connections as the API takes and shows them: secrets are write-only."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, field_validator

ROLE_ARN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
SECRET_NAMES = ("aws_external_id", "kube_token", "prometheus_token")
MAX_URL = 2000


class ConnectionSpec(BaseModel):
    """Where the customer's infrastructure is; nothing secret."""

    model_config = ConfigDict(extra="forbid")

    aws_role_arn: str | None = Field(
        default=None, pattern=ROLE_ARN, description="The role OptiInfra assumes in the customer's account"
    )
    aws_endpoint_url: HttpUrl | None = Field(
        default=None, description="Only for an alternative endpoint (a VPC endpoint, a test double)"
    )
    kube_api_url: HttpUrl | None = None
    kube_context: str | None = Field(default=None, max_length=253, description="A kubeconfig context")
    prometheus_url: HttpUrl | None = None

    @field_validator("aws_endpoint_url", "kube_api_url", "prometheus_url")
    @classmethod
    def _storable(cls, url: HttpUrl | None) -> HttpUrl | None:
        """Normalising (IDNA, a trailing slash) lengthens a URL; it must still read back as one."""
        if url is not None and len(str(url)) > MAX_URL:
            raise ValueError(f"the URL is longer than {MAX_URL} characters once normalised")
        return url


class ConnectionSecrets(BaseModel):
    """The secrets: kept sealed, never shown. A field left out of a write keeps its stored value; an
    empty string clears it."""

    model_config = ConfigDict(extra="forbid")

    aws_external_id: SecretStr | None = Field(default=None, max_length=1224)
    kube_token: SecretStr | None = Field(default=None, max_length=16384)
    prometheus_token: SecretStr | None = Field(default=None, max_length=16384)


class CustomerConnection(BaseModel):
    """Everything needed to act on the customer's infrastructure (held by workers, never returned)."""

    customer_id: str
    spec: ConnectionSpec
    secrets: ConnectionSecrets


class ConnectionView(BaseModel):
    """What the API shows: the spec and which secrets are set."""

    customer_id: str
    spec: ConnectionSpec
    secrets_set: list[str]
    updated_at: datetime
