import { errorText } from "../api/errors";

/** role=alert with the server's message (403 reads "Not allowed: …"). Renders nothing without an error. */
export function ErrorAlert({ error, prefix }: { error: unknown; prefix?: string }) {
  if (error === null || error === undefined || error === false) return null;
  const text = typeof error === "string" ? error : errorText(error);
  return (
    <div role="alert" className="my-3 rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-800">
      {prefix ? <strong className="font-semibold">{prefix} </strong> : null}
      {text}
    </div>
  );
}

/** role=status for a success / progress message. */
export function StatusMessage({ children }: { children: React.ReactNode }) {
  return (
    <div role="status" className="my-3 rounded-md border border-green-300 bg-green-50 px-3 py-2 text-sm text-green-900">
      {children}
    </div>
  );
}
