import { describe, expect, it } from "vitest";
import type { SavingsReport } from "../api/types";
import { anyRealized, savingsByDay } from "./reports";

function day(dayText: string, workload: string, estimated: number, realized: number | null) {
  return {
    day: dayText,
    customer_id: "demo",
    workload_id: workload,
    changes_executed: [],
    changes_in_effect: 1,
    changes_measured: realized === null ? 0 : 1,
    estimated_savings_usd: estimated,
    realized_savings_usd: realized,
    realized_gpu_hours_saved: null,
    cost_usd: 100,
    gpu_hours: 24,
    measured_hours: 24,
  };
}

const REPORT = {
  since: "2026-11-01",
  basis: "",
  until: "2026-11-03",
  comparison_window_hours: 168,
  notes: [],
  changes: [],
  days: [day("2026-11-02", "a", 5, null), day("2026-11-01", "a", 1, 2), day("2026-11-01", "b", 3, null), day("2026-11-02", "b", 1, null)],
  totals: { estimated_savings_usd: 10, realized_savings_usd: 2, realized_gpu_hours_saved: 0, cost_usd: 400, gpu_hours: 96 },
} satisfies SavingsReport as SavingsReport;

describe("savingsByDay", () => {
  it("sums workloads per day and keeps unmeasured days null", () => {
    expect(savingsByDay(REPORT)).toEqual([
      { day: "2026-11-01", estimated: 4, realized: 2 },
      { day: "2026-11-02", estimated: 6, realized: null },
    ]);
    expect(anyRealized(REPORT)).toBe(true);
    expect(anyRealized({ ...REPORT, days: [day("2026-11-02", "a", 5, null)] })).toBe(false);
  });
});
