import type { Schemas } from "../../api/client";
import { formatNumber } from "../../lib/format";

type Fleet = Schemas["MeasuredFleet"];

/** "4 × NVIDIA A10G" per GPU model (unknown models as "unknown GPU"), joined with ", ". */
export function gpuSummary(fleet: Fleet): string {
  const counts = new Map<string, number | null>();
  for (const instance of fleet.instances) {
    const model = instance.gpu_model ?? "unknown GPU";
    const before = counts.has(model) ? counts.get(model)! : 0;
    counts.set(model, before === null || instance.gpus === null ? null : before + instance.gpus);
  }
  if (counts.size === 0) return "no GPUs";
  return [...counts.entries()].map(([model, count]) => `${count === null ? "?" : formatNumber(count)} × ${model}`).join(", ");
}

/** "4 × g5.xlarge (on_demand)" per instance type and lifecycle. */
export function instanceSummary(fleet: Fleet): string {
  const counts = new Map<string, number>();
  for (const instance of fleet.instances) {
    const key = `${instance.instance_type} (${instance.lifecycle})`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts.entries()].map(([key, count]) => `${count} × ${key}`).join(", ");
}

/** "TTFT p95 ≤ 3 s · ITL p95 ≤ 80 ms", or null when the workload has no objective. */
export function sloSummary(workload: { slo_ttft_p95_s?: number | null; slo_itl_p95_s?: number | null }, format: (s: number) => string): string | null {
  const parts: string[] = [];
  if (workload.slo_ttft_p95_s != null) parts.push(`TTFT p95 ≤ ${format(workload.slo_ttft_p95_s)}`);
  if (workload.slo_itl_p95_s != null) parts.push(`ITL p95 ≤ ${format(workload.slo_itl_p95_s)}`);
  return parts.length ? parts.join(" · ") : null;
}
