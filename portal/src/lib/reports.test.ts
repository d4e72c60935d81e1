import { describe, expect, it } from "vitest";
import type { SavingsReport } from "../api/types";
import { anyRealized, savingsAxis, savingsByDay } from "./reports";

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

describe("savingsAxis", () => {
  it("labels small daily figures distinctly instead of all $0.00", () => {
    // A change executed minutes ago: a few cents (or less) of estimated savings that day.
    const axis = savingsAxis([
      { day: "2026-11-01", estimated: 0, realized: null },
      { day: "2026-11-02", estimated: 0.0021, realized: null },
    ]);
    expect(axis.domain[0]).toBe(0);
    expect(axis.domain[1]).toBeGreaterThanOrEqual(0.0021);
    const labels = axis.ticks.map(axis.format);
    expect(new Set(labels).size).toBe(labels.length);
    expect(labels).not.toContain("$0.00");
    expect(labels).toEqual(["$0", "$0.0005", "$0.0010", "$0.0015", "$0.0020", "$0.0025"]);
  });

  it("uses compact labels for large figures and covers negative realized savings", () => {
    const axis = savingsAxis([
      { day: "2026-11-01", estimated: 1900, realized: -120 },
      { day: "2026-11-02", estimated: 1200, realized: 800 },
    ]);
    expect(axis.domain[0]).toBeLessThanOrEqual(-120);
    expect(axis.domain[1]).toBeGreaterThanOrEqual(1900);
    expect(axis.ticks.map(axis.format)).toEqual(["-$500", "$0", "$500", "$1k", "$1.5k", "$2k"]);
  });

  it("keeps a readable axis when every figure is zero", () => {
    const axis = savingsAxis([{ day: "2026-11-01", estimated: 0, realized: 0 }]);
    expect(axis.ticks.map(axis.format)).toEqual(["$0", "$0.20", "$0.40", "$0.60", "$0.80", "$1.00"]);
  });
});
