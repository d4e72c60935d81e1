import type { ButtonHTMLAttributes } from "react";

type Variant = "primary" | "secondary" | "danger" | "ghost";

// A disabled button of any variant: slate-600 on slate-100 (6.9:1; tests/portal/test_contrast.py measures what the browser renders). Not
// opacity-60, which left white on a faded blue/red at 3.0–3.5:1.
const DISABLED = "disabled:cursor-not-allowed disabled:border-slate-300 disabled:bg-slate-100 disabled:text-slate-600";

const VARIANTS: Record<Variant, string> = {
  primary: "bg-blue-700 text-white enabled:hover:bg-blue-800 border-blue-700",
  secondary: "bg-white text-slate-900 enabled:hover:bg-slate-100 border-slate-400",
  danger: "bg-red-700 text-white enabled:hover:bg-red-800 border-red-700",
  ghost: "bg-transparent text-blue-800 enabled:hover:bg-blue-50 border-transparent",
};

export function Button({
  variant = "secondary",
  className = "",
  type = "button",
  ...props
}: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: Variant }) {
  return (
    <button
      type={type}
      className={`inline-flex items-center justify-center rounded-md border px-3 py-1.5 text-sm font-medium ${VARIANTS[variant]} ${DISABLED} ${className}`}
      {...props}
    />
  );
}
