"""The agents a request names: a list of agent kinds, each at most once."""

from typing import Annotated

from pydantic import AfterValidator

from optiinfra.domain.enums import AgentKind


def check_distinct_agents(agents: list[AgentKind]) -> list[AgentKind]:
    """The agents, if none is named twice; ValueError otherwise."""
    if len(set(agents)) != len(agents):
        raise ValueError("each agent may appear once")
    return agents


DistinctAgents = Annotated[list[AgentKind], AfterValidator(check_distinct_agents)]
"""A list of agents validated to name each at most once (its field adds its own length and default)."""
