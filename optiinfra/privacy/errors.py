"""Why a privacy-tier operation was refused."""

from optiinfra.privacy.tiers import PrivacyTier


class PrivacyError(Exception):
    """A read or write that the customer's privacy tier, or the server's configuration, does not allow."""


class UnknownCustomerError(PrivacyError):
    def __init__(self, customer_id: str) -> None:
        super().__init__(f"unknown customer {customer_id}")
        self.customer_id = customer_id


class TierNotAllowedError(PrivacyError):
    """The customer's recorded tier is below the one the operation needs."""

    def __init__(self, customer_id: str, tier: PrivacyTier, needed: PrivacyTier, what: str) -> None:
        super().__init__(
            f"customer {customer_id} is in privacy tier {tier.value}; {what} needs tier {needed.value}"
            f"{'' if needed is PrivacyTier.CONTENT else ' or above'}"
        )
        self.customer_id = customer_id
        self.tier = tier
        self.needed = needed


class EncryptionKeyError(PrivacyError):
    """OPTIINFRA_PROMPT_ENCRYPTION_KEY is missing or malformed, or stored content was encrypted with another
    key."""
