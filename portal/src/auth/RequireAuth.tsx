import type { ReactNode } from "react";
import { Navigate, useLocation } from "react-router";
import { useCredential } from "./credential";

/** Sends a signed-out visitor to /sign-in, remembering where they were going. */
export function RequireAuth({ children }: { children: ReactNode }) {
  const credential = useCredential();
  const location = useLocation();
  if (!credential) {
    const from = `${location.pathname}${location.search}`;
    return <Navigate to="/sign-in" replace state={{ from }} />;
  }
  return <>{children}</>;
}
