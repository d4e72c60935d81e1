import { NOT_MEASURED } from "../lib/format";

/** Shows a formatted figure, or "not measured" with the note the API gave (never a made-up number). */
export function Measured<T>({
  value,
  format,
  note,
}: {
  value: T | null | undefined;
  format: (value: T) => string;
  note?: string | null;
}) {
  if (value === null || value === undefined || (typeof value === "number" && Number.isNaN(value))) {
    return (
      <span className="text-slate-700">
        <span className="italic">{NOT_MEASURED}</span>
        {note ? <span className="block text-xs text-slate-600">{note}</span> : null}
      </span>
    );
  }
  return <span>{format(value)}</span>;
}

/** The notes a report gives (why some figures are missing). */
export function Notes({ notes }: { notes: readonly string[] | null | undefined }) {
  if (!notes || notes.length === 0) return null;
  return (
    <ul className="mt-2 list-disc space-y-1 pl-5 text-xs text-slate-600">
      {notes.map((note, index) => (
        <li key={index}>{note}</li>
      ))}
    </ul>
  );
}
