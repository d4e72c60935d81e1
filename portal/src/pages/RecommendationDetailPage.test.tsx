import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { recommendationDetail, recommendationPreview } from "../test/fixtures";
import { mockFetch, renderPage, type MockRoute } from "../test/render";
import { RecommendationDetailPage } from "./RecommendationDetailPage";

function routes(extra: MockRoute[] = [], detail = recommendationDetail()): MockRoute[] {
  return [
    ...extra,
    { path: "/v1/recommendations/rec-1", body: detail },
    { path: "/v1/recommendations/rec-1/preview", body: recommendationPreview() },
  ];
}

function show(role: "viewer" | "approver" | "admin") {
  return renderPage(<RecommendationDetailPage />, { route: "/recommendations/rec-1", path: "/recommendations/:id", role });
}

describe("RecommendationDetailPage", () => {
  it("shows the recommendation, its status, preview and sections", async () => {
    mockFetch(routes());
    show("viewer");
    expect(await screen.findByRole("heading", { level: 1, name: "Run code-assist in a spot group" })).toBeInTheDocument();
    expect(screen.getByLabelText("Status")).toHaveTextContent("pending_approval");
    for (const name of ["Reasoning", "Evidence", "Preview", "Steps", "Compensations", "Outcome"]) {
      expect(screen.getByRole("region", { name })).toBeInTheDocument();
    }
    const preview = screen.getByRole("region", { name: "Preview" });
    expect(await within(preview).findByText("i-1: running")).toBeInTheDocument();
    expect(within(preview).getByText("i-1: stopped")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Open in Temporal UI" })).toHaveAttribute(
      "href",
      "http://temporal.test:8233/namespaces/default/workflows/opt%2Fdemo%2Fcode-assist%2Fcost%2F1",
    );
  });

  it("shows a viewer no decision controls", async () => {
    mockFetch(routes());
    show("viewer");
    await screen.findByRole("heading", { level: 1, name: "Run code-assist in a spot group" });
    expect(screen.queryByRole("button", { name: "Approve" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Reject" })).not.toBeInTheDocument();
    expect(screen.queryByRole("textbox", { name: "Reason" })).not.toBeInTheDocument();
  });

  it("needs a reason before deciding", async () => {
    const fetchMock = mockFetch(routes());
    show("approver");
    await userEvent.click(await screen.findByRole("button", { name: "Approve" }));
    expect(screen.getByRole("alert")).toHaveTextContent("Give a reason");
    expect(screen.getByRole("textbox", { name: "Reason" })).toHaveAttribute("aria-invalid", "true");
    expect(fetchMock.mock.calls.some(([request]) => (request as Request).method === "POST")).toBe(false);
  });

  it("approves with the reason and says Approved", async () => {
    let sent: unknown = null;
    mockFetch(
      routes([
        {
          method: "POST",
          path: "/v1/recommendations/rec-1/approve",
          status: 202,
          body: (request: Request) => {
            sent = request;
            return { recommendation_id: "rec-1", workflow_id: "w", decision: "approve" };
          },
        },
      ]),
    );
    show("approver");
    await userEvent.type(await screen.findByRole("textbox", { name: "Reason" }), "  saves money  ");
    await userEvent.click(screen.getByRole("button", { name: "Approve" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Approved");
    expect(await (sent as unknown as Request).json()).toEqual({ reason: "saves money" });
  });

  it("shows the 409 detail naming who decided first", async () => {
    const detail = "rec-1 already approved by alice at 2026-12-07T08:05:00Z: fine by me";
    mockFetch(routes([{ method: "POST", path: "/v1/recommendations/rec-1/reject", status: 409, body: { detail } }]));
    show("admin");
    await userEvent.type(await screen.findByRole("textbox", { name: "Reason" }), "too risky");
    await userEvent.click(screen.getByRole("button", { name: "Reject" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent(detail);
    expect(alert).toHaveTextContent("alice");
    expect(screen.queryByRole("status")).not.toBeInTheDocument();
  });

  it("shows step results and the outcome once executed", async () => {
    mockFetch(
      routes(
        [],
        recommendationDetail({
          status: "executed",
          approval: { decision: "approve", approver: "bob", reason: "go", decided_at: "2026-12-07T09:00:00Z" },
          step_results: [
            { step_id: "stop-1", action: "stop_instance", target: "i-1", status: "succeeded", detail: "stopped", finished_at: "2026-12-07T09:01:00Z" },
          ],
          outcome: {
            recommendation_id: "rec-1",
            workflow_id: "w",
            status: "executed",
            verification_passed: true,
            failure_reason: null,
            estimated_monthly_savings_usd: 545.37,
            finished_at: "2026-12-07T09:02:00Z",
          },
        }),
      ),
    );
    show("approver");
    await screen.findByRole("heading", { level: 1, name: "Run code-assist in a spot group" });
    expect(screen.getByLabelText("Status")).toHaveTextContent("executed");
    expect(within(screen.getByRole("region", { name: "Steps" })).getByText("succeeded")).toBeInTheDocument();
    expect(within(screen.getByRole("region", { name: "Outcome" })).getByText("passed")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Approve" })).not.toBeInTheDocument();
  });

  it("polls until the status is final", async () => {
    let calls = 0;
    mockFetch([
      { path: "/v1/recommendations/rec-1/preview", body: recommendationPreview() },
      {
        path: "/v1/recommendations/rec-1",
        body: () => {
          calls += 1;
          return recommendationDetail({ status: calls === 1 ? "approved" : "executed" });
        },
      },
    ]);
    show("viewer");
    await waitFor(() => expect(screen.getByLabelText("Status")).toHaveTextContent("approved"));
    await waitFor(() => expect(screen.getByLabelText("Status")).toHaveTextContent("executed"), { timeout: 4000 });
  });

  it("names the status with its <dt> (valid ARIA: no aria-label on a span)", async () => {
    mockFetch(routes());
    show("viewer");
    await screen.findByRole("heading", { level: 1, name: "Run code-assist in a spot group" });
    const status = screen.getByLabelText("Status");
    expect(status.tagName).toBe("DD");
    expect(status).not.toHaveAttribute("aria-label");
    expect(status).toHaveTextContent(/^pending_approval$/);
    expect(status).toHaveAccessibleName("Status");
    expect(document.getElementById(status.getAttribute("aria-labelledby") ?? "")).toHaveTextContent(/^Status$/);
  });

  it("labels the live preview as what approving would do now while pending", async () => {
    mockFetch([
      { path: "/v1/recommendations/rec-1", body: recommendationDetail() },
      { path: "/v1/recommendations/rec-1/preview", body: { ...recommendationPreview(), superseded: true } },
    ]);
    show("viewer");
    const preview = await screen.findByRole("region", { name: "Preview" });
    expect(preview).toHaveTextContent("What approving would do now");
    expect(await within(preview).findByText(/approving would run no step \(superseded\)/)).toBeInTheDocument();
  });

  for (const status of ["approved", "executing", "executed", "rejected", "rolled_back", "failed", "expired", "superseded"] as const) {
    it(`reads no live preview once ${status}, and shows the planned changes instead`, async () => {
      const fetchMock = mockFetch([
        { path: "/v1/recommendations/rec-1", body: recommendationDetail({ status }) },
        { path: "/v1/recommendations/rec-1/preview", body: { ...recommendationPreview(), superseded: true } },
      ]);
      show("viewer");
      const preview = await screen.findByRole("region", { name: "Preview" });
      expect(preview).toHaveTextContent(`Decided (${status})`);
      expect(within(preview).getByRole("list", { name: "Planned changes" })).toHaveTextContent("Stop i-1");
      expect(preview).not.toHaveTextContent(/would run no step|What approving would do now/);
      expect(preview).toHaveTextContent("under Steps");
      expect(fetchMock.mock.calls.some(([request]) => new URL((request as Request).url).pathname.endsWith("/preview"))).toBe(false);
    });
  }

  it("hides a live preview read while pending once the recommendation is decided", async () => {
    let calls = 0;
    mockFetch([
      { path: "/v1/recommendations/rec-1/preview", body: recommendationPreview() },
      {
        path: "/v1/recommendations/rec-1",
        body: () => {
          calls += 1;
          return recommendationDetail({ status: calls === 1 ? "pending_approval" : "executing" });
        },
      },
    ]);
    show("viewer");
    const preview = await screen.findByRole("region", { name: "Preview" });
    expect(await within(preview).findByText("i-1: running")).toBeInTheDocument();
    await waitFor(() => expect(preview).toHaveTextContent("Decided (executing)"), { timeout: 4000 });
    expect(within(preview).queryByText("i-1: running")).not.toBeInTheDocument();
  });
});
