import { useId, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from "react";

const CONTROL =
  "block w-full rounded-md border border-slate-400 bg-white px-2 py-1.5 text-sm text-slate-900 placeholder:text-slate-500";

function Label({ id, children }: { id: string; children: ReactNode }) {
  return (
    <label htmlFor={id} className="mb-1 block text-sm font-medium text-slate-800">
      {children}
    </label>
  );
}

function Hint({ id, hint }: { id: string; hint?: ReactNode }) {
  return hint ? (
    <p id={id} className="mt-1 text-xs text-slate-600">
      {hint}
    </p>
  ) : null;
}

type Common = { label: string; hint?: ReactNode; className?: string; inputClassName?: string };

/** <label for> + <input>: the label is the input's accessible name. */
export function TextField({ label, hint, className = "", inputClassName = "", id, ...props }: Common & InputHTMLAttributes<HTMLInputElement>) {
  const autoId = useId();
  const inputId = id ?? autoId;
  return (
    <div className={className}>
      <Label id={inputId}>{label}</Label>
      <input id={inputId} className={`${CONTROL} ${inputClassName}`} aria-describedby={hint ? `${inputId}-hint` : undefined} {...props} />
      <Hint id={`${inputId}-hint`} hint={hint} />
    </div>
  );
}

export function TextArea({ label, hint, className = "", inputClassName = "", id, ...props }: Common & TextareaHTMLAttributes<HTMLTextAreaElement>) {
  const autoId = useId();
  const inputId = id ?? autoId;
  return (
    <div className={className}>
      <Label id={inputId}>{label}</Label>
      <textarea id={inputId} className={`${CONTROL} ${inputClassName}`} aria-describedby={hint ? `${inputId}-hint` : undefined} {...props} />
      <Hint id={`${inputId}-hint`} hint={hint} />
    </div>
  );
}

export interface Option {
  value: string;
  label: string;
}

/** <label for> + <select>. `options` may include an "All" option with value "". */
export function SelectField({
  label,
  hint,
  options,
  className = "",
  inputClassName = "",
  id,
  ...props
}: Common & { options: readonly Option[] } & SelectHTMLAttributes<HTMLSelectElement>) {
  const autoId = useId();
  const inputId = id ?? autoId;
  return (
    <div className={className}>
      <Label id={inputId}>{label}</Label>
      <select id={inputId} className={`${CONTROL} ${inputClassName}`} aria-describedby={hint ? `${inputId}-hint` : undefined} {...props}>
        {options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
      <Hint id={`${inputId}-hint`} hint={hint} />
    </div>
  );
}
