// Realistic API answers for the workload pages' tests (shapes as the demo stack answers them).
import type { Workload, WorkloadDetail } from "../../api/types";
import { recommendationItem } from "../../test/fixtures";

export function workload(overrides: Partial<Workload> = {}): Workload {
  return {
    customer_id: "demo",
    workload_id: "code-assist",
    name: "Code Assist",
    model_name: "Qwen/Qwen2.5-Coder-7B-Instruct",
    region: "us-east-1",
    stateless: true,
    critical: false,
    min_on_demand_instances: 1,
    slo_ttft_p95_s: 3,
    slo_itl_p95_s: 0.08,
    kube_namespace: null,
    kube_deployment: null,
    request_routing: "round_robin",
    ...overrides,
  };
}

export function workloadDetail(overrides: Partial<WorkloadDetail> = {}): WorkloadDetail {
  const instance = (id: string) => ({
    instance_id: id,
    instance_type: "g5.xlarge",
    lifecycle: "on_demand" as const,
    gpu_model: "NVIDIA A10G",
    gpus: 1,
    hourly_usd: 1.006,
  });
  return {
    workload: workload(),
    fleet: {
      hour: "2026-12-07T08:00:00Z",
      replicas: 4,
      gpus: 4,
      hourly_cost_usd: 4.024,
      instances: [instance("i-1e8c6ddfbd64e9ab6"), instance("i-2ff10c60441fe9df4"), instance("i-4bfac203e8c69a290"), instance("i-86254c215812c5d22")],
    },
    cost: {
      since: "2026-11-08",
      until: "2026-12-08",
      measured_hours: 705,
      total_cost_usd: 2836.92,
      hourly_cost_usd: 4.024,
      monthly_cost_usd: 2937.52,
      gpu_hours: 2820,
    },
    notes: [],
    recommendations: [
      recommendationItem({ id: "778f686e", title: "Run code-assist in a spot group: 2 on-demand base, 2 spot" }),
    ],
    recommendations_total: 1,
    ...overrides,
  };
}

export function unmeasuredDetail(workloadOverrides: Partial<Workload>): WorkloadDetail {
  return workloadDetail({
    workload: workload(workloadOverrides),
    fleet: null,
    cost: null,
    notes: ["no hourly cost record of the workload's instances in the last 30 days"],
    recommendations: [],
    recommendations_total: 0,
  });
}
