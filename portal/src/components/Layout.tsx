import { Suspense } from "react";
import { NavLink, Outlet } from "react-router";
import { useSession } from "../auth/SessionContext";
import { ErrorAlert } from "./ErrorAlert";
import { Button } from "./Button";
import { PageLoading } from "./PageLoading";

export const NAV_LINKS = [
  { to: "/", label: "Dashboard", end: true },
  { to: "/recommendations", label: "Recommendations", end: false },
  { to: "/workloads", label: "Workloads", end: false },
  { to: "/conflicts", label: "Conflicts", end: false },
  { to: "/schedules", label: "Schedules", end: false },
  { to: "/audit", label: "Audit log", end: false },
  { to: "/settings", label: "Settings", end: false },
] as const;

/** The app shell: skip link, header with the principal and Sign out, the "Main" navigation, the page. */
export function Layout() {
  const { session, error, signOut } = useSession();
  return (
    <div className="min-h-screen bg-slate-50 text-slate-900">
      <a
        href="#main"
        className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-white focus:px-3 focus:py-2 focus:text-blue-800"
      >
        Skip to main content
      </a>
      <header className="border-b border-slate-200 bg-white">
        <div className="mx-auto flex max-w-7xl flex-wrap items-center justify-between gap-3 px-4 py-3">
          <span className="text-lg font-semibold text-slate-900">OptiInfra</span>
          <div className="flex items-center gap-3 text-sm">
            {session ? (
              <p className="text-slate-700">
                Signed in as <span className="font-semibold text-slate-900">{session.principal.name}</span>{" "}
                <span className="rounded bg-slate-100 px-1.5 py-0.5 font-mono text-xs text-slate-800">
                  {session.principal.role}
                </span>
                {session.principal.customer_id ? (
                  <span className="ml-1 text-slate-700">· customer {session.principal.customer_id}</span>
                ) : null}
              </p>
            ) : null}
            <Button onClick={signOut}>Sign out</Button>
          </div>
        </div>
        <nav aria-label="Main" className="mx-auto max-w-7xl px-4">
          <ul className="flex flex-wrap gap-1">
            {NAV_LINKS.map((link) => (
              <li key={link.to}>
                <NavLink
                  to={link.to}
                  end={link.end}
                  className={({ isActive }) =>
                    `inline-block border-b-2 px-3 py-2 text-sm font-medium ${
                      isActive
                        ? "border-blue-700 text-blue-800"
                        : "border-transparent text-slate-700 hover:border-slate-400 hover:text-slate-900"
                    }`
                  }
                >
                  {link.label}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      <main id="main" tabIndex={-1} className="mx-auto max-w-7xl px-4 py-6 focus:outline-none">
        <ErrorAlert error={error} prefix="Could not load your session:" />
        <Suspense fallback={<PageLoading />}>
          <Outlet />
        </Suspense>
      </main>
    </div>
  );
}
