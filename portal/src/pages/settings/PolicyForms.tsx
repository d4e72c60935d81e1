// The customer's automation policy (operating mode and thresholds) and GPU budget: editable by admins
// through PUT /v1/customers/{id} (the whole CustomerBody, the parts not edited kept as they were),
// read-only for everyone else.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { api, unwrap, type Schemas } from "../../api/client";
import { RISKS, type Customer } from "../../api/types";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { ErrorAlert, StatusMessage } from "../../components/ErrorAlert";
import { SelectField, TextField } from "../../components/Field";
import { formatNumber, formatRatio, formatUsdPerMonth, humanize } from "../../lib/format";
import { Facts } from "../../components/Facts";

type OperatingMode = Schemas["OperatingMode"];
type Automation = Schemas["AutomationPolicy"];
type Budget = Schemas["GpuBudget"];

const MODES: readonly OperatingMode[] = ["advisory", "semi_autonomous", "autonomous"];
const MODE_HINTS: Record<OperatingMode, string> = {
  advisory: "Every recommendation waits for a person.",
  semi_autonomous: "Low-risk, confident recommendations run alone; the rest wait for a person.",
  autonomous: "Recommendations within the thresholds run alone.",
};

/** The policy with the API's defaults filled in. */
export function automationOf(customer: Customer): Required<Automation> {
  return {
    operating_mode: customer.automation?.operating_mode ?? "advisory",
    auto_execute_min_confidence: customer.automation?.auto_execute_min_confidence ?? 0.8,
    auto_execute_max_risk: customer.automation?.auto_execute_max_risk ?? "low",
  };
}

export function budgetOf(customer: Customer): { max_gpus: number | null; max_monthly_usd: number | null } {
  return { max_gpus: customer.budget?.max_gpus ?? null, max_monthly_usd: customer.budget?.max_monthly_usd ?? null };
}

/** PUT /v1/customers/{id} with the customer as it is, but for `change`. */
export function customerBody(customer: Customer, change: { automation?: Automation; budget?: Budget }): Schemas["CustomerBody"] {
  return {
    name: customer.name,
    automation: { ...automationOf(customer), ...change.automation },
    budget: { ...budgetOf(customer), ...change.budget },
  };
}

function useSaveCustomer(customer: Customer) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: Schemas["CustomerBody"]) =>
      unwrap(api.PUT("/v1/customers/{customer_id}", { params: { path: { customer_id: customer.customer_id } }, body })),
    onSuccess: (saved) => {
      queryClient.setQueryData(["customers", customer.customer_id], saved);
      void queryClient.invalidateQueries({ queryKey: ["customers"] });
      void queryClient.invalidateQueries({ queryKey: ["audit"] });
    },
  });
}

function optionalNumber(text: string): number | null | "invalid" {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  const value = Number(trimmed);
  return Number.isFinite(value) && value >= 0 ? value : "invalid";
}

export function AutomationCard({ customer, editable }: { customer: Customer; editable: boolean }) {
  const current = automationOf(customer);
  const [mode, setMode] = useState<OperatingMode>(current.operating_mode);
  const [confidence, setConfidence] = useState(String(Math.round(current.auto_execute_min_confidence * 1000) / 10));
  const [risk, setRisk] = useState(current.auto_execute_max_risk);
  const [problem, setProblem] = useState<string | null>(null);
  const save = useSaveCustomer(customer);
  const key = JSON.stringify([customer.customer_id, current]);
  useEffect(() => {
    const fresh = JSON.parse(key)[1] as Required<Automation>;
    setMode(fresh.operating_mode);
    setConfidence(String(Math.round(fresh.auto_execute_min_confidence * 1000) / 10));
    setRisk(fresh.auto_execute_max_risk);
  }, [key]);

  if (!editable) {
    return (
      <Card title="Automation policy">
        <Facts columns={3}
          items={[
            ["Operating mode", <span className="font-mono">{current.operating_mode}</span>],
            ["Auto-execute minimum confidence", formatRatio(current.auto_execute_min_confidence)],
            ["Auto-execute maximum risk", current.auto_execute_max_risk],
          ]}
        />
        <p className="mt-2 text-xs text-slate-700">{MODE_HINTS[current.operating_mode]} Only admins change this.</p>
      </Card>
    );
  }

  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    const value = Number(confidence);
    if (confidence.trim() === "" || !(value >= 0 && value <= 100)) {
      setProblem("The minimum confidence is a percentage from 0 to 100.");
      save.reset();
      return;
    }
    setProblem(null);
    save.mutate(
      customerBody(customer, {
        automation: { operating_mode: mode, auto_execute_min_confidence: value / 100, auto_execute_max_risk: risk },
      }),
    );
  };

  return (
    <Card title="Automation policy">
      <form aria-label="Automation policy" onSubmit={submit} noValidate className="grid gap-3 md:grid-cols-3">
        <SelectField
          label="Operating mode"
          options={MODES.map((value) => ({ value, label: humanize(value) }))}
          value={mode}
          onChange={(event) => setMode(event.target.value as OperatingMode)}
          hint={MODE_HINTS[mode]}
        />
        <TextField
          label="Auto-execute minimum confidence (%)"
          type="number"
          min={0}
          max={100}
          step="any"
          value={confidence}
          onChange={(event) => setConfidence(event.target.value)}
        />
        <SelectField
          label="Auto-execute maximum risk"
          options={RISKS.map((value) => ({ value, label: humanize(value) }))}
          value={risk}
          onChange={(event) => setRisk(event.target.value as typeof risk)}
        />
        <div className="md:col-span-3">
          <ErrorAlert error={problem ?? save.error} prefix="Could not save:" />
          {save.isSuccess ? <StatusMessage>Saved the automation policy of {customer.customer_id}.</StatusMessage> : null}
          <Button type="submit" variant="primary" disabled={save.isPending}>
            Save automation policy
          </Button>
        </div>
      </form>
    </Card>
  );
}

export function BudgetCard({ customer, editable }: { customer: Customer; editable: boolean }) {
  const current = budgetOf(customer);
  const text = (value: number | null) => (value === null ? "" : String(value));
  const [gpus, setGpus] = useState(text(current.max_gpus));
  const [spend, setSpend] = useState(text(current.max_monthly_usd));
  const [problem, setProblem] = useState<string | null>(null);
  const save = useSaveCustomer(customer);
  const key = JSON.stringify([customer.customer_id, current]);
  useEffect(() => {
    const fresh = JSON.parse(key)[1] as ReturnType<typeof budgetOf>;
    setGpus(fresh.max_gpus === null ? "" : String(fresh.max_gpus));
    setSpend(fresh.max_monthly_usd === null ? "" : String(fresh.max_monthly_usd));
  }, [key]);

  if (!editable) {
    return (
      <Card title="GPU budget">
        <Facts columns={3}
          items={[
            ["Maximum GPUs", current.max_gpus === null ? "no cap" : formatNumber(current.max_gpus)],
            ["Maximum monthly spend", current.max_monthly_usd === null ? "no cap" : formatUsdPerMonth(current.max_monthly_usd)],
          ]}
        />
        <p className="mt-2 text-xs text-slate-700">A change that would take the fleet above a cap is held back. Only admins change this.</p>
      </Card>
    );
  }

  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    const maxGpus = optionalNumber(gpus);
    const maxSpend = optionalNumber(spend);
    if (maxGpus === "invalid" || (maxGpus !== null && !Number.isInteger(maxGpus))) {
      setProblem("Maximum GPUs is a whole number, 0 or more (blank: no cap).");
      save.reset();
      return;
    }
    if (maxSpend === "invalid") {
      setProblem("Maximum monthly spend is an amount in dollars, 0 or more (blank: no cap).");
      save.reset();
      return;
    }
    setProblem(null);
    save.mutate(customerBody(customer, { budget: { max_gpus: maxGpus, max_monthly_usd: maxSpend } }));
  };

  return (
    <Card title="GPU budget">
      <form aria-label="GPU budget" onSubmit={submit} noValidate className="grid gap-3 md:grid-cols-2">
        <TextField
          label="Maximum GPUs"
          type="number"
          min={0}
          step={1}
          value={gpus}
          onChange={(event) => setGpus(event.target.value)}
          hint="Blank: no cap."
        />
        <TextField
          label="Maximum monthly spend (USD)"
          type="number"
          min={0}
          step="any"
          value={spend}
          onChange={(event) => setSpend(event.target.value)}
          hint="Blank: no cap."
        />
        <div className="md:col-span-2">
          <ErrorAlert error={problem ?? save.error} prefix="Could not save:" />
          {save.isSuccess ? <StatusMessage>Saved the GPU budget of {customer.customer_id}.</StatusMessage> : null}
          <Button type="submit" variant="primary" disabled={save.isPending}>
            Save GPU budget
          </Button>
        </div>
      </form>
    </Card>
  );
}
