import { QueryClientProvider } from "@tanstack/react-query";
import { StrictMode, useEffect } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router";
import { AppRoutes } from "./App";
import { SessionProvider } from "./auth/SessionContext";
import { subscribeCredential, getCredential } from "./auth/credential";
import "./index.css";
import { createQueryClient } from "./lib/queryClient";

const queryClient = createQueryClient();

/** On sign-out (the button or a 401), drop cached data; <RequireAuth> then shows /sign-in. */
function SignOutWatcher() {
  useEffect(
    () =>
      subscribeCredential(() => {
        if (getCredential() === null) queryClient.clear();
      }),
    [],
  );
  return null;
}

const root = document.getElementById("root");
if (!root) throw new Error("no #root element");
createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <BrowserRouter>
        <SessionProvider>
          <SignOutWatcher />
          <AppRoutes />
        </SessionProvider>
      </BrowserRouter>
    </QueryClientProvider>
  </StrictMode>,
);
