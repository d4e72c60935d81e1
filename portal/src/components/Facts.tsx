import type { ReactNode } from "react";

const LAYOUTS = {
  2: "grid grid-cols-1 gap-x-6 gap-y-2 text-sm sm:grid-cols-2",
  3: "grid gap-2 text-sm sm:grid-cols-3",
} as const;

/** Read-only figures as a definition list: each term above its value, in `columns` columns on wider screens. */
export function Facts({ items, columns = 2 }: { items: [string, ReactNode][]; columns?: keyof typeof LAYOUTS }) {
  return (
    <dl className={LAYOUTS[columns]}>
      {items.map(([term, value]) => (
        <div key={term}>
          <dt className="font-medium text-slate-700">{term}</dt>
          <dd className="text-slate-900">{value}</dd>
        </div>
      ))}
    </dl>
  );
}
