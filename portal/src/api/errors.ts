/** An error answer of the API: `status` and the message taken from its `{"detail": ...}` body. */
export class ApiError extends Error {
  readonly status: number;
  readonly detail: unknown;

  constructor(status: number, message: string, detail?: unknown) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }
}

interface ValidationItem {
  loc?: unknown;
  msg?: unknown;
}

function describeItem(item: unknown): string {
  if (typeof item === "string") return item;
  if (item && typeof item === "object") {
    const { loc, msg } = item as ValidationItem;
    const where = Array.isArray(loc) ? loc.filter((part) => part !== "body").join(".") : "";
    const text = typeof msg === "string" ? msg : JSON.stringify(item);
    return where ? `${where}: ${text}` : text;
  }
  return String(item);
}

/** The human message of an error body: `detail` as text, a validation list joined, else a fallback. */
export function detailMessage(body: unknown, status: number, statusText = ""): string {
  if (body && typeof body === "object" && "detail" in body) {
    const detail = (body as { detail: unknown }).detail;
    if (typeof detail === "string" && detail.trim()) return detail;
    if (Array.isArray(detail) && detail.length > 0) return detail.map(describeItem).join("; ");
    if (detail && typeof detail === "object") return JSON.stringify(detail);
  }
  if (typeof body === "string" && body.trim()) return body.trim().slice(0, 500);
  return `Request failed (${status}${statusText ? ` ${statusText}` : ""})`;
}

/** A message for any thrown value, phrased for people (403 says "not allowed"). */
export function errorText(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 403) return `Not allowed: ${error.message}`;
    return error.message;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

export function isApiError(error: unknown, status?: number): error is ApiError {
  return error instanceof ApiError && (status === undefined || error.status === status);
}
