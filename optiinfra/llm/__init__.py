"""Language-model endpoints: the OpenAI-compatible chat adapter, its configuration from settings and the
usage record of each answer. The decisions (which tier, when to fall back to rules) live in
`agents.reasoning`; only `openai_chat` talks to the network."""
