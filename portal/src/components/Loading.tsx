export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <p className="py-4 text-sm text-slate-600" aria-live="polite" aria-busy="true">
      {label}
    </p>
  );
}
