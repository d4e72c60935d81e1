/** What shows while a page's code loads (route-level code splitting): a busy region named "Loading page". */
export function PageLoading() {
  return (
    <div role="region" aria-label="Loading page" aria-busy="true" className="mx-auto max-w-7xl px-4 py-6">
      <p aria-live="polite" className="text-sm text-slate-700">
        Loading page…
      </p>
    </div>
  );
}
