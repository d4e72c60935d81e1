import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useId, useState, type FormEvent } from "react";
import { api, unwrap } from "../../api/client";
import type { RecommendationStatus } from "../../api/types";
import { useCan } from "../../auth/SessionContext";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { ErrorAlert, StatusMessage } from "../../components/ErrorAlert";
import { TextArea } from "../../components/Field";

type Decision = "approve" | "reject";

/** Approve / Reject with a required reason; for approver+ while the recommendation awaits a decision. */
export function DecisionPanel({ recommendationId, status }: { recommendationId: string; status: RecommendationStatus }) {
  const allowed = useCan("approver");
  const queryClient = useQueryClient();
  const [reason, setReason] = useState("");
  const [missingReason, setMissingReason] = useState(false);
  const [decided, setDecided] = useState<Decision | null>(null);
  const errorId = useId();

  const mutation = useMutation({
    mutationFn: async (decision: Decision) => {
      const options = { params: { path: { recommendation_id: recommendationId } }, body: { reason: reason.trim() } };
      return decision === "approve"
        ? unwrap(api.POST("/v1/recommendations/{recommendation_id}/approve", options))
        : unwrap(api.POST("/v1/recommendations/{recommendation_id}/reject", options));
    },
    onSuccess: (_data, decision) => {
      setDecided(decision);
      void queryClient.invalidateQueries({ queryKey: ["recommendation", recommendationId] });
      void queryClient.invalidateQueries({ queryKey: ["recommendations"] });
    },
    onSettled: () => void queryClient.invalidateQueries({ queryKey: ["recommendation", recommendationId] }),
  });

  if (!allowed) return null;
  if (decided) {
    return (
      <Card title="Decision">
        <StatusMessage>{decided === "approve" ? "Approved" : "Rejected"}</StatusMessage>
      </Card>
    );
  }
  if (status !== "pending_approval") {
    // Keep a refused decision's message (409) visible after the status moved on.
    return mutation.error ? (
      <Card title="Decision">
        <ErrorAlert error={mutation.error} />
      </Card>
    ) : null;
  }

  const submit = (decision: Decision) => (event?: FormEvent) => {
    event?.preventDefault();
    if (!reason.trim()) {
      setMissingReason(true);
      return;
    }
    setMissingReason(false);
    mutation.mutate(decision);
  };

  return (
    <Card title="Decision">
      <form onSubmit={submit("approve")} noValidate className="space-y-3">
        <TextArea
          label="Reason"
          name="reason"
          rows={3}
          required
          aria-required="true"
          aria-invalid={missingReason || undefined}
          aria-errormessage={missingReason ? errorId : undefined}
          value={reason}
          maxLength={2000}
          onChange={(event) => {
            setReason(event.target.value);
            if (event.target.value.trim()) setMissingReason(false);
          }}
          hint="Recorded with your decision in the audit log."
        />
        {missingReason ? (
          <p id={errorId} role="alert" className="text-sm text-red-800">
            Give a reason for the decision.
          </p>
        ) : null}
        <div className="flex gap-2">
          <Button type="submit" variant="primary" disabled={mutation.isPending}>
            Approve
          </Button>
          <Button variant="danger" disabled={mutation.isPending} onClick={() => submit("reject")()}>
            Reject
          </Button>
        </div>
        <ErrorAlert error={mutation.error} />
      </form>
    </Card>
  );
}
