import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useId, useState } from "react";
import { api, unwrap, type Schemas } from "../../api/client";
import { AGENTS, type AgentKind } from "../../api/types";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { ErrorAlert, StatusMessage } from "../../components/ErrorAlert";
import { SelectField, TextArea, TextField } from "../../components/Field";
import { humanize } from "../../lib/format";
import { customerOptions, useCustomers } from "../settings/customers";

const SCHEDULE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

export interface ScheduleDraft {
  scheduleId: string;
  cron: string;
  timezone: string;
  customerId: string;
  agents: AgentKind[];
  note: string;
}

const EMPTY: ScheduleDraft = { scheduleId: "", cron: "0 2 * * *", timezone: "UTC", customerId: "", agents: [...AGENTS], note: "" };

/** The body of POST /v1/schedules, or the reason it cannot be sent. */
export function scheduleBody(draft: ScheduleDraft, ownCustomer: string | null): Schemas["ScheduleCreate"] | string {
  const scheduleId = draft.scheduleId.trim();
  if (!SCHEDULE_ID.test(scheduleId)) return "The schedule id takes lower-case letters, digits and dashes (e.g. nightly).";
  const cron = draft.cron
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
  if (cron.length === 0) return "Give at least one cron expression.";
  if (draft.agents.length === 0) return "Choose at least one agent.";
  const body: Schemas["ScheduleCreate"] = {
    schedule_id: scheduleId,
    cron,
    timezone: draft.timezone.trim() || "UTC",
    agents: AGENTS.filter((agent) => draft.agents.includes(agent)),
    note: draft.note.trim(),
  };
  const customer = ownCustomer ?? draft.customerId;
  if (customer) body.customer_id = customer;
  return body;
}

/** The "New schedule" form (operator+): POST /v1/schedules; 409/422 details show in role=alert. */
export function NewScheduleForm({ ownCustomer }: { ownCustomer: string | null }) {
  const queryClient = useQueryClient();
  const customers = useCustomers(ownCustomer === null);
  const [draft, setDraft] = useState<ScheduleDraft>(EMPTY);
  const [problem, setProblem] = useState<string | null>(null);
  const agentsLegend = useId();
  const create = useMutation({
    mutationFn: (body: Schemas["ScheduleCreate"]) => unwrap(api.POST("/v1/schedules", { body })),
    onSuccess: () => {
      setDraft(EMPTY);
      void queryClient.invalidateQueries({ queryKey: ["schedules"] });
    },
  });

  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    const body = scheduleBody(draft, ownCustomer);
    if (typeof body === "string") {
      setProblem(body);
      create.reset();
      return;
    }
    setProblem(null);
    create.mutate(body);
  };
  const toggleAgent = (agent: AgentKind, on: boolean) =>
    setDraft((current) => ({
      ...current,
      agents: on ? [...current.agents.filter((a) => a !== agent), agent] : current.agents.filter((a) => a !== agent),
    }));

  return (
    <Card title="New schedule">
      <form aria-label="New schedule" onSubmit={submit} noValidate className="grid gap-3 md:grid-cols-2">
        <TextField
          label="Schedule id"
          value={draft.scheduleId}
          onChange={(event) => setDraft({ ...draft, scheduleId: event.target.value })}
          required
          pattern={SCHEDULE_ID.source}
          maxLength={63}
          hint="e.g. nightly: lower-case letters, digits and dashes."
          autoComplete="off"
        />
        <TextField
          label="Time zone"
          value={draft.timezone}
          onChange={(event) => setDraft({ ...draft, timezone: event.target.value })}
          hint="IANA name the cron times are read in, e.g. UTC or Europe/Berlin."
          autoComplete="off"
        />
        <TextArea
          label="Cron expressions"
          value={draft.cron}
          rows={3}
          onChange={(event) => setDraft({ ...draft, cron: event.target.value })}
          required
          hint="One per line, e.g. 0 2 * * * (02:00 daily). Seven fields put seconds first."
          inputClassName="font-mono"
        />
        <TextArea
          label="Note"
          value={draft.note}
          rows={3}
          maxLength={2000}
          onChange={(event) => setDraft({ ...draft, note: event.target.value })}
        />
        {ownCustomer === null ? (
          <SelectField
            label="Customer to scan"
            options={customerOptions(customers.data?.items, { value: "", label: "Every customer (fleet-wide)" })}
            value={draft.customerId}
            onChange={(event) => setDraft({ ...draft, customerId: event.target.value })}
          />
        ) : (
          <p className="text-sm text-slate-700">
            Scans the workloads of <span className="font-mono">{ownCustomer}</span>.
          </p>
        )}
        <fieldset aria-labelledby={agentsLegend}>
          <legend id={agentsLegend} className="mb-1 text-sm font-medium text-slate-800">
            Agents
          </legend>
          <div className="flex flex-wrap gap-3">
            {AGENTS.map((agent) => (
              <label key={agent} className="flex items-center gap-1.5 text-sm text-slate-800">
                <input
                  type="checkbox"
                  className="h-4 w-4"
                  checked={draft.agents.includes(agent)}
                  onChange={(event) => toggleAgent(agent, event.target.checked)}
                />
                {humanize(agent)}
              </label>
            ))}
          </div>
        </fieldset>
        <div className="md:col-span-2">
          <ErrorAlert error={problem ?? create.error} prefix="Could not create the schedule:" />
          {create.data ? (
            <StatusMessage>
              Created schedule <span className="font-mono">{create.data.schedule_id}</span>.
            </StatusMessage>
          ) : null}
          <Button type="submit" variant="primary" disabled={create.isPending}>
            {create.isPending ? "Creating…" : "Create schedule"}
          </Button>
        </div>
      </form>
    </Card>
  );
}
