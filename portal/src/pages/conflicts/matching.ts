import type { AgentKind, RecommendationItem, StoredConflict } from "../../api/types";

/**
 * The recommendation a conflicting proposal became, if any: a joint optimization runs each agent as a
 * child workflow `<joint workflow id>/<agent>/...`, so a recommendation of that agent whose workflow id
 * starts so (preferring the one with the proposal's title) is it.
 */
export function recommendationFor(
  conflict: StoredConflict,
  agent: AgentKind,
  title: string | undefined,
  candidates: readonly RecommendationItem[],
): RecommendationItem | null {
  const prefix = `${conflict.joint_workflow_id}/${agent}/`;
  const children = candidates.filter((item) => item.agent === agent && item.workflow_id.startsWith(prefix));
  return children.find((item) => item.title === title) ?? children[0] ?? null;
}
