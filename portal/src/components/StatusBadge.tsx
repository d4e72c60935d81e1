// Colours meet 4.5:1 contrast (800 text on 100 background).
const TONES: Record<string, string> = {
  green: "bg-green-100 text-green-800 border-green-300",
  red: "bg-red-100 text-red-800 border-red-300",
  amber: "bg-amber-100 text-amber-900 border-amber-300",
  blue: "bg-blue-100 text-blue-800 border-blue-300",
  slate: "bg-slate-100 text-slate-800 border-slate-300",
};

const STATUS_TONE: Record<string, keyof typeof TONES> = {
  pending_approval: "amber",
  approved: "blue",
  executing: "blue",
  executed: "green",
  rejected: "slate",
  expired: "slate",
  superseded: "slate",
  rolled_back: "red",
  failed: "red",
  // workflow / schedule / step states
  running: "blue",
  completed: "green",
  succeeded: "green",
  success: "green",
  ok: "green",
  met: "green",
  paused: "amber",
  skipped: "slate",
  terminated: "red",
  timed_out: "red",
  canceled: "slate",
  cancelled: "slate",
  compensated: "amber",
  breached: "red",
  low: "green",
  medium: "amber",
  high: "red",
};

export function toneOf(value: string): keyof typeof TONES {
  return STATUS_TONE[value.toLowerCase()] ?? "slate";
}

/** A pill showing the raw value (e.g. `pending_approval`), coloured by meaning. Extra props go on the span. */
export function StatusBadge({
  status,
  tone,
  ...rest
}: { status: string; tone?: keyof typeof TONES } & React.HTMLAttributes<HTMLSpanElement>) {
  return (
    <span
      {...rest}
      className={`inline-block rounded-full border px-2 py-0.5 font-mono text-xs font-medium ${TONES[tone ?? toneOf(status)]}`}
    >
      {status}
    </span>
  );
}
