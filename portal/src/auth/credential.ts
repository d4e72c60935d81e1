// The bearer credential (API key, platform token or OIDC id_token) lives in sessionStorage only.
import { useSyncExternalStore } from "react";

const KEY = "optiinfra.credential";
const NOTICE_KEY = "optiinfra.signout-notice";
const listeners = new Set<() => void>();

function emit(): void {
  for (const listener of listeners) listener();
}

export function getCredential(): string | null {
  try {
    return window.sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function setCredential(credential: string): void {
  window.sessionStorage.setItem(KEY, credential);
  window.sessionStorage.removeItem(NOTICE_KEY);
  emit();
}

/** Forget the credential; `notice` is shown once on the sign-in page (e.g. "Your session ended"). */
export function clearCredential(notice?: string): void {
  window.sessionStorage.removeItem(KEY);
  if (notice) window.sessionStorage.setItem(NOTICE_KEY, notice);
  emit();
}

/** The notice left by the last sign-out, removed as it is read. */
export function takeSignOutNotice(): string | null {
  const notice = window.sessionStorage.getItem(NOTICE_KEY);
  if (notice !== null) window.sessionStorage.removeItem(NOTICE_KEY);
  return notice;
}

export function subscribeCredential(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The current credential; re-renders when it is set or cleared. */
export function useCredential(): string | null {
  return useSyncExternalStore(subscribeCredential, getCredential, () => null);
}
