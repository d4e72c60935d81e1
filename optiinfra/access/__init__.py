"""Who may do what: principals (API keys, OIDC tokens, the platform token), their roles and tenants."""
