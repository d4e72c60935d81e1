import { lazy, Suspense } from "react";
import { Route, Routes } from "react-router";
import { RequireAuth } from "./auth/RequireAuth";
import { Layout } from "./components/Layout";
import { PageLoading } from "./components/PageLoading";

// Route-level code splitting: each page is its own chunk, loaded when its route is first shown, so the
// first load (and the sign-in page) carries no page it does not show; Recharts ships with the Dashboard only.
const SignInPage = lazy(() => import("./pages/SignInPage").then((m) => ({ default: m.SignInPage })));
const AuthCallbackPage = lazy(() => import("./pages/AuthCallbackPage").then((m) => ({ default: m.AuthCallbackPage })));
const DashboardPage = lazy(() => import("./pages/DashboardPage").then((m) => ({ default: m.DashboardPage })));
const RecommendationsPage = lazy(() => import("./pages/RecommendationsPage").then((m) => ({ default: m.RecommendationsPage })));
const RecommendationDetailPage = lazy(() =>
  import("./pages/RecommendationDetailPage").then((m) => ({ default: m.RecommendationDetailPage })),
);
const WorkloadsPage = lazy(() => import("./pages/WorkloadsPage").then((m) => ({ default: m.WorkloadsPage })));
const WorkloadDetailPage = lazy(() => import("./pages/WorkloadDetailPage").then((m) => ({ default: m.WorkloadDetailPage })));
const ConflictsPage = lazy(() => import("./pages/ConflictsPage").then((m) => ({ default: m.ConflictsPage })));
const SchedulesPage = lazy(() => import("./pages/SchedulesPage").then((m) => ({ default: m.SchedulesPage })));
const AuditPage = lazy(() => import("./pages/AuditPage").then((m) => ({ default: m.AuditPage })));
const SettingsPage = lazy(() => import("./pages/SettingsPage").then((m) => ({ default: m.SettingsPage })));
const NotFoundPage = lazy(() => import("./pages/NotFoundPage").then((m) => ({ default: m.NotFoundPage })));

/** Every route of the portal. Pages render inside <Layout> (navigation "Main") once signed in; while a
 * page's chunk loads, <Layout> shows <PageLoading> in its place (the pages outside it get their own). */
export function AppRoutes() {
  return (
    <Suspense fallback={<PageLoading />}>
      <Routes>
        <Route path="/sign-in" element={<SignInPage />} />
        <Route path="/auth/callback" element={<AuthCallbackPage />} />
        <Route
          element={
            <RequireAuth>
              <Layout />
            </RequireAuth>
          }
        >
          <Route index element={<DashboardPage />} />
          <Route path="recommendations" element={<RecommendationsPage />} />
          <Route path="recommendations/:id" element={<RecommendationDetailPage />} />
          <Route path="workloads" element={<WorkloadsPage />} />
          <Route path="workloads/:customerId/:workloadId" element={<WorkloadDetailPage />} />
          <Route path="conflicts" element={<ConflictsPage />} />
          <Route path="schedules" element={<SchedulesPage />} />
          <Route path="audit" element={<AuditPage />} />
          <Route path="settings" element={<SettingsPage />} />
          <Route path="*" element={<NotFoundPage />} />
        </Route>
      </Routes>
    </Suspense>
  );
}
