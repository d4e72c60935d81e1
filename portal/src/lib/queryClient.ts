import { QueryClient } from "@tanstack/react-query";
import { ApiError } from "../api/errors";

/** Live data: pages poll with `refetchInterval`; errors other than 5xx/network are not retried. */
export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 5_000,
        retry: (failures, error) => {
          if (error instanceof ApiError && error.status < 500) return false;
          return failures < 2;
        },
      },
      mutations: { retry: false },
    },
  });
}

/** Poll intervals (ms). */
export const POLL = { live: 2_000, list: 10_000, report: 60_000 } as const;
