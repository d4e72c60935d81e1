import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../../api/client";
import type { Customer } from "../../api/types";
import type { Option } from "../../components/Field";

/** Every customer the principal may see (a customer's principal: its own only). */
export function useCustomers(enabled = true) {
  return useQuery({
    queryKey: ["customers", { limit: 500 }],
    queryFn: ({ signal }) => unwrap(api.GET("/v1/customers", { params: { query: { limit: 500 } }, signal })),
    staleTime: 60_000,
    enabled,
  });
}

/** Options of a customer <select>: `first` (e.g. "All customers") then each customer by name. */
export function customerOptions(customers: readonly Customer[] | undefined, first?: Option): Option[] {
  const options = (customers ?? []).map((customer) => ({
    value: customer.customer_id,
    label: customer.name && customer.name !== customer.customer_id ? `${customer.name} (${customer.customer_id})` : customer.customer_id,
  }));
  return first ? [first, ...options] : options;
}
