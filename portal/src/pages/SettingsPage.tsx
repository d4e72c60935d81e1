import { useQuery } from "@tanstack/react-query";
import { useSearchParams } from "react-router";
import { api, unwrap } from "../api/client";
import { useCan, useSession } from "../auth/SessionContext";
import { ErrorAlert } from "../components/ErrorAlert";
import { SelectField } from "../components/Field";
import { Loading } from "../components/Loading";
import { PageHeading } from "../components/PageHeading";
import { POLL } from "../lib/queryClient";
import { ABILITIES } from "../lib/roles";
import { ApiKeysCard } from "./settings/ApiKeysCard";
import { customerOptions, useCustomers } from "./settings/customers";
import { IdentityProviderCard } from "./settings/IdentityProviderCard";
import { AutomationCard, BudgetCard } from "./settings/PolicyForms";

export function SettingsPage() {
  const { session } = useSession();
  const isAdmin = useCan(ABILITIES.administer);
  const ownCustomer = session?.principal.customer_id ?? null;
  const [params, setParams] = useSearchParams();
  const customers = useCustomers(ownCustomer === null);
  const listed = customers.data?.items ?? [];
  const requested = params.get("customer") ?? "";
  const customerId = ownCustomer ?? (listed.some((item) => item.customer_id === requested) ? requested : (listed[0]?.customer_id ?? ""));

  const customer = useQuery({
    queryKey: ["customers", customerId],
    queryFn: ({ signal }) => unwrap(api.GET("/v1/customers/{customer_id}", { params: { path: { customer_id: customerId } }, signal })),
    enabled: customerId !== "",
    refetchInterval: POLL.list,
  });

  return (
    <>
      <PageHeading>Settings</PageHeading>
      {ownCustomer === null ? (
        <form aria-label="Customer" className="mb-4 max-w-sm" onSubmit={(event) => event.preventDefault()}>
          <SelectField
            label="Customer"
            options={customerOptions(listed)}
            value={customerId}
            disabled={listed.length === 0}
            onChange={(event) => {
              const next = new URLSearchParams(params);
              next.set("customer", event.target.value);
              setParams(next);
            }}
          />
        </form>
      ) : null}
      <ErrorAlert error={customers.error} prefix="Could not load the customers:" />
      {ownCustomer === null && customers.isSuccess && listed.length === 0 ? (
        <p className="text-sm text-slate-700">No customers are registered yet.</p>
      ) : null}
      {customerId === "" ? (
        customers.isPending && ownCustomer === null ? <Loading /> : null
      ) : customer.isPending ? (
        <Loading />
      ) : !customer.data ? (
        <ErrorAlert error={customer.error} prefix="Could not load the customer:" />
      ) : (
        <div className="grid gap-4">
          <p className="text-sm text-slate-700">
            Settings of <strong className="text-slate-900">{customer.data.name}</strong> (<span className="font-mono">{customer.data.customer_id}</span>).
          </p>
          <ErrorAlert error={customer.error} prefix="Could not refresh:" />
          <AutomationCard customer={customer.data} editable={isAdmin} />
          <BudgetCard customer={customer.data} editable={isAdmin} />
          {isAdmin ? (
            <>
              <ApiKeysCard key={`keys-${customerId}`} customerId={customerId} />
              <IdentityProviderCard key={`idp-${customerId}`} customerId={customerId} />
            </>
          ) : (
            <p className="text-sm text-slate-700">Admins manage the API keys and the identity provider.</p>
          )}
        </div>
      )}
    </>
  );
}
