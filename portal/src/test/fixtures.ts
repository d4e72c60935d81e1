import type { RecommendationDetail, RecommendationItem, RecommendationPreview } from "../api/types";

/** A recommendation as the list routes give it. */
export function recommendationItem(overrides: Partial<RecommendationItem> = {}): RecommendationItem {
  return {
    id: "rec-1",
    workflow_id: "opt/demo/code-assist/cost/1",
    customer_id: "demo",
    workload_id: "code-assist",
    agent: "cost",
    type: "spot_migration",
    status: "pending_approval",
    title: "Run code-assist in a spot group",
    estimated_monthly_savings_usd: 545.37,
    current_monthly_cost_usd: 2937.52,
    projected_monthly_cost_usd: 2392.15,
    confidence: 0.81,
    risk_level: "medium",
    reasoning: "Code Assist is stateless.",
    created_at: "2026-12-07T08:00:40Z",
    ...overrides,
  };
}

export function recommendationDetail(overrides: Partial<RecommendationDetail> = {}): RecommendationDetail {
  return {
    ...recommendationItem(),
    steps: [
      {
        step_id: "stop-1",
        phase: "apply",
        action: "stop_instance",
        target: "i-1",
        params: {},
        description: "Stop i-1",
        compensation: { action: "start_instance", target: "i-1", params: {}, description: "Start i-1 again" },
      },
    ],
    evidence: { p95_gpu_util: 62.5, instance_type: "g5.xlarge" },
    status_reason: null,
    approval: null,
    step_results: [],
    outcome: null,
    updated_at: "2026-12-07T08:00:41Z",
    ...overrides,
  };
}

export function recommendationPreview(): RecommendationPreview {
  return {
    recommendation_id: "rec-1",
    superseded: false,
    steps: [
      {
        step_id: "stop-1",
        phase: "apply",
        action: "stop_instance",
        target: "i-1",
        description: "Stop i-1",
        now: "i-1: running",
        after: "i-1: stopped",
        still_fits: true,
        problem: null,
        compensation: null,
      },
    ],
  };
}
