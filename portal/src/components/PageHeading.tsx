import { useEffect, type ReactNode } from "react";

/** The page's <h1>; also sets document.title. */
export function PageHeading({ children, title, actions }: { children: ReactNode; title?: string; actions?: ReactNode }) {
  const text = title ?? (typeof children === "string" ? children : undefined);
  useEffect(() => {
    if (text) document.title = `${text} · OptiInfra`;
  }, [text]);
  return (
    <div className="mb-4 flex flex-wrap items-center justify-between gap-2">
      <h1 className="text-2xl font-semibold text-slate-900">{children}</h1>
      {actions}
    </div>
  );
}
