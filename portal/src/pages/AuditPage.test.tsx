import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { AuditEntry } from "../api/types";
import { mockFetch, renderPage, requestOf, type MockRoute } from "../test/render";
import { AuditPage } from "./AuditPage";

const ENTRIES: AuditEntry[] = [
  {
    id: 7,
    at: "2026-12-07T10:15:00Z",
    actor: "demo-admin",
    action: "customer.updated",
    subject: "demo",
    customer_id: "demo",
    detail: {},
    before: { customer_id: "demo", name: "Demo Inc.", automation: { operating_mode: "advisory" }, budget: { max_gpus: null } },
    after: { customer_id: "demo", name: "Demo Inc.", automation: { operating_mode: "semi_autonomous" }, budget: { max_gpus: 16 } },
  },
  {
    id: 3,
    at: "2026-12-07T08:00:41Z",
    actor: "workflow:opt/demo/code-assist/cost/1",
    action: "recommendation.pending_approval",
    subject: "778f686e",
    customer_id: "demo",
    detail: { reason: "medium risk is above the low auto-execute limit" },
    before: null,
    after: null,
  },
  {
    id: 1,
    at: "2026-12-07T08:00:40Z",
    actor: "platform-token",
    action: "optimization.started",
    subject: "demo/code-assist",
    customer_id: null,
    detail: { workflow_ids: ["opt/demo/code-assist/cost/1"], agents: ["cost"] },
    before: null,
    after: null,
  },
];

function routes(extra: MockRoute[] = []): MockRoute[] {
  return [
    ...extra,
    { path: "/v1/audit", body: { items: ENTRIES, total: 3, limit: 50, offset: 0 } },
    { path: "/v1/customers", body: { items: [{ customer_id: "demo", name: "Demo Inc." }], total: 1, limit: 500, offset: 0 } },
  ];
}

function auditUrls(mock: ReturnType<typeof mockFetch>): URL[] {
  return mock.mock.calls.map((_, index) => new URL(requestOf(mock, index).url)).filter((url) => url.pathname === "/v1/audit");
}

describe("AuditPage", () => {
  it("shows who did what, when, for which customer, with before and after", async () => {
    mockFetch(routes());
    renderPage(<AuditPage />, { route: "/audit", path: "/audit", role: "viewer" });
    expect(await screen.findByRole("heading", { level: 1, name: "Audit log" })).toBeInTheDocument();
    const table = await screen.findByRole("table", { name: "Audit log" });
    const rows = [null, ...Array.from(table.querySelectorAll<HTMLElement>(":scope > tbody > tr"))];
    expect(rows[1]).toHaveTextContent("2026-12-07 10:15 UTC");
    expect(rows[1]).toHaveTextContent("demo-admin");
    expect(rows[1]).toHaveTextContent("customer.updated");
    expect(within(rows[1]!).getByText("2 fields changed")).toBeInTheDocument();
    const changes = within(rows[1]!).getByRole("table", { name: "Before and after of audit entry 7" });
    const changed = within(changes).getByRole("rowheader", { name: "automation.operating_mode" }).closest("tr")!;
    expect(changed).toHaveTextContent("advisory");
    expect(changed).toHaveTextContent("semi_autonomous");
    expect(within(changes).getByRole("rowheader", { name: "budget.max_gpus" }).closest("tr")).toHaveTextContent("null16");
    expect(within(rows[2]!).getByRole("link", { name: "778f686e" })).toHaveAttribute("href", "/recommendations/778f686e");
    expect(rows[2]).toHaveTextContent("medium risk is above the low auto-execute limit");
    expect(within(rows[3]!).getByRole("link", { name: "demo/code-assist" })).toHaveAttribute("href", "/workloads/demo/code-assist");
    expect(rows[3]).toHaveTextContent("platform");
  });

  it("sends the filters the route supports", async () => {
    const mock = mockFetch(routes());
    renderPage(<AuditPage />, { route: "/audit", path: "/audit", role: "admin" });
    await screen.findByRole("table", { name: "Audit log" });
    await userEvent.type(screen.getByRole("textbox", { name: "Who" }), "demo-admin");
    await userEvent.type(screen.getByRole("textbox", { name: "Action" }), "customer.updated");
    await userEvent.type(screen.getByRole("textbox", { name: "Subject" }), "demo");
    await userEvent.type(screen.getByLabelText("From (UTC)"), "2026-12-01T08:00");
    await userEvent.click(screen.getByRole("button", { name: "Apply filters" }));
    await waitFor(() => expect(auditUrls(mock).some((url) => url.searchParams.get("actor") === "demo-admin")).toBe(true));
    const last = auditUrls(mock).at(-1)!;
    expect(last.searchParams.get("action")).toBe("customer.updated");
    expect(last.searchParams.get("subject")).toBe("demo");
    expect(last.searchParams.get("since")).toBe("2026-12-01T08:00:00Z");
    expect(last.searchParams.get("customer_id")).toBeNull();
    await userEvent.selectOptions(screen.getByRole("combobox", { name: "Customer" }), "demo");
    await waitFor(() => expect(auditUrls(mock).at(-1)!.searchParams.get("customer_id")).toBe("demo"));
  });

  it("scopes a customer's principal to its customer", async () => {
    const mock = mockFetch(routes());
    renderPage(<AuditPage />, {
      route: "/audit",
      path: "/audit",
      session: { principal: { name: "demo-viewer", role: "viewer", customer_id: "demo" }, temporal_ui_url: null, temporal_namespace: "default" },
    });
    await screen.findByRole("table", { name: "Audit log" });
    expect(screen.queryByRole("combobox", { name: "Customer" })).not.toBeInTheDocument();
    expect(auditUrls(mock)[0]!.searchParams.get("customer_id")).toBe("demo");
  });

  it("shows a refusal as an alert", async () => {
    mockFetch([{ path: "/v1/audit", status: 422, body: { detail: [{ loc: ["query", "since"], msg: "give an ISO 8601 date-time" }] } }]);
    renderPage(<AuditPage />, { route: "/audit", path: "/audit", role: "viewer" });
    expect(await screen.findByRole("alert")).toHaveTextContent("give an ISO 8601 date-time");
  });
});
