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
