import type { SavingsReport } from "../api/types";
import { formatUsdAxis, niceTicks } from "./format";

export interface SavingsPoint {
  day: string;
  estimated: number;
  /** null when no change in effect that day was measured */
  realized: number | null;
}

/** The savings report's per-workload days summed per day (realized stays null when nothing was measured). */
export function savingsByDay(report: SavingsReport): SavingsPoint[] {
  const byDay = new Map<string, SavingsPoint>();
  for (const day of report.days) {
    const point = byDay.get(day.day) ?? { day: day.day, estimated: 0, realized: null };
    point.estimated += day.estimated_savings_usd;
    if (day.realized_savings_usd !== null && day.realized_savings_usd !== undefined) {
      point.realized = (point.realized ?? 0) + day.realized_savings_usd;
    }
    byDay.set(day.day, point);
  }
  return [...byDay.values()].sort((a, b) => a.day.localeCompare(b.day));
}

/** Whether any change in the report has a realized figure. */
export function anyRealized(report: SavingsReport): boolean {
  return report.days.some((day) => day.changes_measured > 0) || report.changes.some((change) => change.realized_monthly_savings_usd !== null);
}

export interface MoneyAxis {
  domain: [number, number];
  ticks: number[];
  format: (value: number) => string;
}

/** The y axis of the savings chart: nice ticks over every estimated and realized figure (and 0), labelled
 * compactly with as many decimals as the tick step needs (small daily figures must not all read "$0.00"). */
export function savingsAxis(points: readonly SavingsPoint[]): MoneyAxis {
  const values = points.flatMap((point) => (point.realized === null ? [point.estimated] : [point.estimated, point.realized]));
  const { ticks, step } = niceTicks(Math.min(0, ...values), Math.max(0, ...values));
  return { domain: [ticks[0] ?? 0, ticks[ticks.length - 1] ?? 1], ticks, format: (value) => formatUsdAxis(value, step) };
}
