import { useSearchParams } from "react-router";

/** Paging kept in the URL (`?offset=40`), so back/forward and links keep the page. */
export function usePaging(limit = 20): { limit: number; offset: number; setOffset: (offset: number) => void } {
  const [params, setParams] = useSearchParams();
  const raw = Number(params.get("offset") ?? "0");
  const offset = Number.isFinite(raw) && raw > 0 ? Math.floor(raw) : 0;
  const setOffset = (next: number) => {
    setParams(
      (current) => {
        const updated = new URLSearchParams(current);
        if (next > 0) updated.set("offset", String(next));
        else updated.delete("offset");
        return updated;
      },
      { replace: false },
    );
  };
  return { limit, offset, setOffset };
}
