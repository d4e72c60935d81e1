import { describe, expect, it } from "vitest";
import {
  NOT_MEASURED,
  formatCompact,
  formatUsdAxis,
  niceTicks,
  formatDateTime,
  formatNumber,
  formatPercent,
  formatRatio,
  formatRelative,
  formatSeconds,
  formatUsd,
  formatUsdPerMonth,
  formatUsdPrecise,
  humanize,
} from "./format";

describe("format", () => {
  it("formats money", () => {
    expect(formatUsd(1234.56)).toBe("$1,235");
    expect(formatUsd(12.5)).toBe("$12.50");
    expect(formatUsd(-3.2)).toBe("-$3.20");
    expect(formatUsd(0)).toBe("$0.00");
    expect(formatUsdPerMonth(2500)).toBe("$2,500/mo");
    expect(formatUsdPrecise(0.01234)).toBe("$0.0123");
    expect(formatUsdPrecise(3.5)).toBe("$3.50");
  });

  it("never turns a missing figure into a number", () => {
    for (const formatter of [formatUsd, formatUsdPerMonth, formatUsdPrecise, formatNumber, formatRatio, formatPercent, formatSeconds, formatCompact]) {
      expect(formatter(null)).toBe(NOT_MEASURED);
      expect(formatter(undefined)).toBe(NOT_MEASURED);
      expect(formatter(Number.NaN)).toBe(NOT_MEASURED);
    }
  });

  it("formats ratios, percents, seconds and counts", () => {
    expect(formatRatio(0.9876)).toBe("98.8%");
    expect(formatPercent(42.5)).toBe("42.5%");
    expect(formatSeconds(0.85)).toBe("850 ms");
    expect(formatSeconds(1.254)).toBe("1.25 s");
    expect(formatNumber(1234.5678)).toBe("1,234.57");
    expect(formatCompact(3_400_000)).toBe("3.4M");
  });

  it("formats times in UTC", () => {
    expect(formatDateTime("2026-05-04T13:07:59Z")).toBe("2026-05-04 13:07 UTC");
    expect(formatDateTime(null)).toBe("—");
    const now = new Date("2026-05-04T13:00:00Z");
    expect(formatRelative("2026-05-04T12:55:00Z", now)).toBe("5 minutes ago");
    expect(formatRelative("2026-05-04T12:59:50Z", now)).toBe("just now");
    expect(formatRelative(null, now)).toBe("never");
    expect(formatRelative("2026-05-02T13:00:00Z", now)).toBe("2 days ago");
  });

  it("humanizes raw values", () => {
    expect(humanize("pending_approval")).toBe("Pending approval");
  });
});

describe("formatUsdAxis and niceTicks", () => {
  it("picks nice steps covering zero", () => {
    expect(niceTicks(0, 37)).toEqual({ ticks: [0, 10, 20, 30, 40], step: 10 });
    expect(niceTicks(0, 0.031).ticks).toEqual([0, 0.01, 0.02, 0.03, 0.04]);
  });

  it("writes as many decimals as the step needs, compact from $1k", () => {
    expect([0, 0.01, 0.02].map((v) => formatUsdAxis(v, 0.01))).toEqual(["$0", "$0.01", "$0.02"]);
    expect([0, 0.5, 1].map((v) => formatUsdAxis(v, 0.5))).toEqual(["$0", "$0.50", "$1.00"]);
    expect([0, 250, 500, 750, 1000, 1250].map((v) => formatUsdAxis(v, 250))).toEqual([
      "$0",
      "$250",
      "$500",
      "$750",
      "$1k",
      "$1.25k",
    ]);
    expect(formatUsdAxis(1_200_000, 200_000)).toBe("$1.2M");
    expect(formatUsdAxis(-1500, 500)).toBe("-$1.5k");
  });
});
