import { Route, Routes } from "react-router";
import { RequireAuth } from "./auth/RequireAuth";
import { Layout } from "./components/Layout";
import { AuditPage } from "./pages/AuditPage";
import { AuthCallbackPage } from "./pages/AuthCallbackPage";
import { ConflictsPage } from "./pages/ConflictsPage";
import { DashboardPage } from "./pages/DashboardPage";
import { NotFoundPage } from "./pages/NotFoundPage";
import { RecommendationDetailPage } from "./pages/RecommendationDetailPage";
import { RecommendationsPage } from "./pages/RecommendationsPage";
import { SchedulesPage } from "./pages/SchedulesPage";
import { SettingsPage } from "./pages/SettingsPage";
import { SignInPage } from "./pages/SignInPage";
import { WorkloadDetailPage } from "./pages/WorkloadDetailPage";
import { WorkloadsPage } from "./pages/WorkloadsPage";

/** Every route of the portal. Pages render inside <Layout> (navigation "Main") once signed in. */
export function AppRoutes() {
  return (
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
  );
}
