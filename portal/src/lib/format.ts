// Number, money and time formatting. Every formatter answers NOT_MEASURED for null/undefined/NaN, so
// a missing figure is never shown as 0.

export const NOT_MEASURED = "not measured";

type Maybe = number | null | undefined;

function missing(value: Maybe): value is null | undefined {
  return value === null || value === undefined || Number.isNaN(value);
}

/** "$1,234" (whole dollars from $100 up), "$12.50" below; negative as "-$3.20". */
export function formatUsd(value: Maybe, options: { cents?: boolean } = {}): string {
  if (missing(value)) return NOT_MEASURED;
  const cents = options.cents ?? Math.abs(value) < 100;
  return new Intl.NumberFormat("en-US", {
    style: "currency",
    currency: "USD",
    minimumFractionDigits: cents ? 2 : 0,
    maximumFractionDigits: cents ? 2 : 0,
  }).format(value);
}

/** Monthly money: "$1,234/mo". */
export function formatUsdPerMonth(value: Maybe): string {
  return missing(value) ? NOT_MEASURED : `${formatUsd(value)}/mo`;
}

/** Small prices such as $/1M tokens keep up to 4 decimals: "$0.0123". */
export function formatUsdPrecise(value: Maybe): string {
  if (missing(value)) return NOT_MEASURED;
  return new Intl.NumberFormat("en-US", {
    style: "currency",
    currency: "USD",
    minimumFractionDigits: 2,
    maximumFractionDigits: Math.abs(value) < 1 ? 4 : 2,
  }).format(value);
}

export function formatNumber(value: Maybe, maximumFractionDigits = 2): string {
  if (missing(value)) return NOT_MEASURED;
  return new Intl.NumberFormat("en-US", { maximumFractionDigits }).format(value);
}

/** Compact counts: 1200 → "1.2K", 3400000 → "3.4M". */
export function formatCompact(value: Maybe): string {
  if (missing(value)) return NOT_MEASURED;
  return new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 }).format(value);
}

/** A ratio 0..1 as a percentage: 0.987 → "98.7%". */
export function formatRatio(value: Maybe, digits = 1): string {
  if (missing(value)) return NOT_MEASURED;
  return `${(value * 100).toFixed(digits)}%`;
}

/** A value already in percent: 42.5 → "42.5%". */
export function formatPercent(value: Maybe, digits = 1): string {
  if (missing(value)) return NOT_MEASURED;
  return `${value.toFixed(digits)}%`;
}

/** Seconds as "850 ms" below one second, "1.25 s" from one second up. */
export function formatSeconds(value: Maybe): string {
  if (missing(value)) return NOT_MEASURED;
  if (Math.abs(value) < 1) return `${Math.round(value * 1000)} ms`;
  return `${Number(value.toFixed(2))} s`;
}

function toDate(value: string | Date | null | undefined): Date | null {
  if (value === null || value === undefined || value === "") return null;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** "2026-05-04 13:07 UTC" — unambiguous and the same for everyone. */
export function formatDateTime(value: string | Date | null | undefined, fallback = "—"): string {
  const date = toDate(value);
  if (!date) return fallback;
  return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** "2026-05-04" (UTC day). */
export function formatDate(value: string | Date | null | undefined, fallback = "—"): string {
  const date = toDate(value);
  return date ? date.toISOString().slice(0, 10) : fallback;
}

/** "5 minutes ago", "in 2 hours", "just now". */
export function formatRelative(value: string | Date | null | undefined, now: Date = new Date(), fallback = "never"): string {
  const date = toDate(value);
  if (!date) return fallback;
  const seconds = Math.round((date.getTime() - now.getTime()) / 1000);
  if (Math.abs(seconds) < 45) return "just now";
  const units: [Intl.RelativeTimeFormatUnit, number][] = [
    ["year", 365 * 86400],
    ["month", 30 * 86400],
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
  ];
  const format = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size || unit === "minute") return format.format(Math.round(seconds / size), unit);
  }
  return "just now";
}

/** "pending_approval" → "Pending approval". */
export function humanize(value: string | null | undefined): string {
  if (!value) return "";
  const text = value.replace(/[_-]+/g, " ").trim();
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Evenly spaced "nice" axis ticks (steps of 1, 2, 2.5 or 5 × 10^k) covering min..max and 0, at most
 * `count` intervals. */
export function niceTicks(min: number, max: number, count = 5): { ticks: number[]; step: number } {
  let low = Math.min(0, Number.isFinite(min) ? min : 0);
  let high = Math.max(0, Number.isFinite(max) ? max : 0);
  if (high === low) high = low + 1; // nothing but zeros: still a readable 0..1 axis
  // The smallest nice step that covers low..high in at most `count` intervals.
  const magnitude = 10 ** Math.floor(Math.log10((high - low) / count));
  const fits = (candidate: number) => Math.ceil(high / candidate - 1e-9) - Math.floor(low / candidate + 1e-9) <= count;
  const step = [1, 2, 2.5, 5, 10, 20].map((nice) => nice * magnitude).find(fits) ?? 20 * magnitude;
  low = Math.floor(low / step + 1e-9) * step;
  high = Math.ceil(high / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let index = 0; low + index * step <= high + step * 1e-9; index += 1) {
    ticks.push(Number((low + index * step).toPrecision(12)));
  }
  return { ticks, step };
}

/** The fewest decimals (up to 8) that write `value` exactly: 0.25 → 2, 500 → 0. */
function decimalsOf(value: number): number {
  for (let digits = 0; digits < 8; digits += 1) {
    const scaled = Math.abs(value) * 10 ** digits;
    if (Math.abs(scaled - Math.round(scaled)) < 1e-6 * Math.max(1, scaled)) return digits;
  }
  return 8;
}

const AXIS_UNITS: [number, string][] = [
  [1e9, "B"],
  [1e6, "M"],
  [1e3, "k"],
];

/**
 * A money axis label, compact and as precise as the ticks' `step` needs: "$0", "$500", "$1.5k", "$2M",
 * "$0.25", "$0.0005" — so neighbouring ticks never read the same (never "$0.00" for small figures).
 */
export function formatUsdAxis(value: number, step: number): string {
  if (!Number.isFinite(value)) return "";
  const size = Math.abs(value);
  if (size < Math.abs(step) * 1e-9 || size === 0) return "$0";
  const [unit, suffix] = AXIS_UNITS.find(([threshold]) => size >= threshold) ?? [1, ""];
  let digits = decimalsOf(step / unit);
  if (unit === 1 && digits > 0) digits = Math.max(2, digits); // cents: "$0.50", not "$0.5"
  let text = (size / unit).toFixed(digits);
  if (unit > 1 && text.includes(".")) text = text.replace(/\.?0+$/, "");
  if (unit === 1 && digits === 0) text = new Intl.NumberFormat("en-US").format(Number(text));
  return `${value < 0 ? "-" : ""}$${text}${suffix}`;
}
