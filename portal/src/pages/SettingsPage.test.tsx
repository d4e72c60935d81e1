import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { ApiKey, Customer, SessionInfo } from "../api/types";
import { mockFetch, renderPage, requestOf, type MockRoute } from "../test/render";
import { SettingsPage } from "./SettingsPage";

const DEMO: Customer = {
  customer_id: "demo",
  name: "Demo Inc.",
  automation: { operating_mode: "semi_autonomous", auto_execute_min_confidence: 0.8, auto_execute_max_risk: "low" },
  budget: { max_gpus: null, max_monthly_usd: 50000 },
};
const ACME: Customer = { ...DEMO, customer_id: "acme", name: "Acme", automation: { operating_mode: "advisory", auto_execute_min_confidence: 0.9, auto_execute_max_risk: "low" } };

const KEY: ApiKey = {
  key_id: "70050c0c1bd9",
  customer_id: "demo",
  role: "admin",
  name: "demo-admin",
  created_by: "optiinfra up",
  created_at: "2026-12-07T07:59:26Z",
  expires_at: null,
  revoked_at: null,
};

function routes(extra: MockRoute[] = []): MockRoute[] {
  return [
    ...extra,
    { path: "/v1/customers", body: { items: [ACME, DEMO], total: 2, limit: 500, offset: 0 } },
    { path: "/v1/customers/demo", body: DEMO },
    { path: "/v1/customers/acme", body: ACME },
    { path: "/v1/customers/demo/api-keys", body: { items: [KEY], total: 1, limit: 20, offset: 0 } },
    { path: "/v1/customers/demo/identity-provider", status: 404, body: { detail: "demo has no identity provider" } },
  ];
}

function customerSession(role: "viewer" | "operator" | "admin"): SessionInfo {
  return { principal: { name: `demo-${role}`, role, customer_id: "demo" }, temporal_ui_url: null, temporal_namespace: "default" };
}

function show(role: "viewer" | "operator" | "admin") {
  return renderPage(<SettingsPage />, { route: "/settings", path: "/settings", session: customerSession(role) });
}

function sent(mock: ReturnType<typeof mockFetch>, method: string): Request[] {
  return mock.mock.calls.map((_, index) => requestOf(mock, index)).filter((request) => request.method === method);
}

describe("SettingsPage", () => {
  it("shows the policy and budget read-only to an operator, with no key management", async () => {
    mockFetch(routes());
    show("operator");
    expect(await screen.findByRole("heading", { level: 1, name: "Settings" })).toBeInTheDocument();
    const policy = await screen.findByRole("region", { name: "Automation policy" });
    expect(within(policy).getByText("semi_autonomous")).toBeInTheDocument();
    expect(within(policy).getByText("80.0%")).toBeInTheDocument();
    const budget = screen.getByRole("region", { name: "GPU budget" });
    expect(within(budget).getByText("no cap")).toBeInTheDocument();
    expect(within(budget).getByText("$50,000/mo")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /Save/ })).not.toBeInTheDocument();
    expect(screen.queryByRole("combobox", { name: "Operating mode" })).not.toBeInTheDocument();
    expect(screen.queryByRole("region", { name: "API keys" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Create key" })).not.toBeInTheDocument();
    expect(screen.queryByRole("region", { name: "Identity provider" })).not.toBeInTheDocument();
    expect(screen.queryByRole("combobox", { name: "Customer" })).not.toBeInTheDocument();
  });

  it("lets an admin change the policy, keeping the rest of the customer as it was", async () => {
    const mock = mockFetch(
      routes([
        {
          method: "PUT",
          path: "/v1/customers/demo",
          body: { ...DEMO, automation: { operating_mode: "autonomous", auto_execute_min_confidence: 0.9, auto_execute_max_risk: "medium" } },
        },
      ]),
    );
    show("admin");
    const policy = await screen.findByRole("form", { name: "Automation policy" });
    await userEvent.selectOptions(within(policy).getByRole("combobox", { name: "Operating mode" }), "autonomous");
    const confidence = within(policy).getByRole("spinbutton", { name: "Auto-execute minimum confidence (%)" });
    expect(confidence).toHaveValue(80);
    await userEvent.clear(confidence);
    await userEvent.type(confidence, "90");
    await userEvent.selectOptions(within(policy).getByRole("combobox", { name: "Auto-execute maximum risk" }), "medium");
    await userEvent.click(within(policy).getByRole("button", { name: "Save automation policy" }));
    expect(await within(policy).findByRole("status")).toHaveTextContent("Saved the automation policy of demo.");
    const [put] = sent(mock, "PUT");
    expect(new URL(put!.url).pathname).toBe("/v1/customers/demo");
    expect(await put!.json()).toEqual({
      name: "Demo Inc.",
      automation: { operating_mode: "autonomous", auto_execute_min_confidence: 0.9, auto_execute_max_risk: "medium" },
      budget: { max_gpus: null, max_monthly_usd: 50000 },
    });
  });

  it("saves the GPU budget and shows a refusal", async () => {
    const mock = mockFetch(routes([{ method: "PUT", path: "/v1/customers/demo", status: 422, body: { detail: [{ loc: ["body", "budget", "max_gpus"], msg: "Input should be greater than or equal to 0" }] } }]));
    show("admin");
    const budget = await screen.findByRole("form", { name: "GPU budget" });
    await userEvent.type(within(budget).getByRole("spinbutton", { name: "Maximum GPUs" }), "16");
    await userEvent.clear(within(budget).getByRole("spinbutton", { name: "Maximum monthly spend (USD)" }));
    await userEvent.click(within(budget).getByRole("button", { name: "Save GPU budget" }));
    expect(await within(budget).findByRole("alert")).toHaveTextContent("budget.max_gpus: Input should be greater than or equal to 0");
    expect(await sent(mock, "PUT")[0]!.json()).toEqual({
      name: "Demo Inc.",
      automation: DEMO.automation,
      budget: { max_gpus: 16, max_monthly_usd: null },
    });
  });

  it("lists, creates (showing the secret once) and revokes API keys for an admin", async () => {
    const mock = mockFetch(
      routes([
        {
          method: "POST",
          path: "/v1/customers/demo/api-keys",
          status: 201,
          body: { key: { ...KEY, key_id: "aaaaaaaaaaaa", name: "ci", role: "operator", created_by: "demo-admin" }, token: "oi_aaaaaaaaaaaa_secret" },
        },
        { method: "DELETE", path: "/v1/customers/demo/api-keys/70050c0c1bd9", body: { ...KEY, revoked_at: "2026-12-07T11:00:00Z" } },
      ]),
    );
    show("admin");
    const keys = await screen.findByRole("region", { name: "API keys" });
    expect(await within(keys).findByText("demo-admin")).toBeInTheDocument();
    expect(within(keys).getByText("70050c0c1bd9")).toBeInTheDocument();
    expect(within(keys).getByText("active")).toBeInTheDocument();

    const form = within(keys).getByRole("form", { name: "New API key" });
    await userEvent.type(within(form).getByRole("textbox", { name: "Key name" }), "ci");
    await userEvent.selectOptions(within(form).getByRole("combobox", { name: "Role" }), "operator");
    await userEvent.clear(within(form).getByRole("spinbutton", { name: "Expires in (days)" }));
    await userEvent.type(within(form).getByRole("spinbutton", { name: "Expires in (days)" }), "30");
    await userEvent.click(within(form).getByRole("button", { name: "Create key" }));
    const secret = await within(keys).findByRole("status");
    expect(secret).toHaveTextContent("oi_aaaaaaaaaaaa_secret");
    expect(secret).toHaveTextContent("shown this once");
    expect(within(secret).getByRole("button", { name: "Copy key" })).toBeInTheDocument();
    expect(await sent(mock, "POST")[0]!.json()).toEqual({ name: "ci", role: "operator", expires_in_days: 30 });
    await userEvent.click(within(secret).getByRole("button", { name: "Hide key" }));
    expect(screen.queryByText("oi_aaaaaaaaaaaa_secret")).not.toBeInTheDocument();

    const revoke = within(keys).getByRole("button", { name: "Revoke" });
    expect(revoke).toHaveAccessibleDescription("demo-admin");
    await userEvent.click(revoke);
    const dialog = screen.getByRole("dialog", { name: "Revoke key demo-admin?" });
    await userEvent.click(within(dialog).getByRole("button", { name: "Revoke key" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(within(keys).getByRole("status")).toHaveTextContent("Revoked key demo-admin.");
    expect(new URL(sent(mock, "DELETE")[0]!.url).pathname).toBe("/v1/customers/demo/api-keys/70050c0c1bd9");
  });

  it("creates a key that never expires", async () => {
    const mock = mockFetch(
      routes([{ method: "POST", path: "/v1/customers/demo/api-keys", status: 201, body: { key: { ...KEY, name: "robot" }, token: "t" } }]),
    );
    show("admin");
    const form = await screen.findByRole("form", { name: "New API key" });
    await userEvent.type(within(form).getByRole("textbox", { name: "Key name" }), "robot");
    await userEvent.click(within(form).getByRole("checkbox", { name: "Never expires" }));
    await userEvent.click(within(form).getByRole("button", { name: "Create key" }));
    await screen.findByText("t");
    expect(await sent(mock, "POST")[0]!.json()).toEqual({ name: "robot", role: "viewer", expires_in_days: null });
  });

  it("registers and removes the identity provider", async () => {
    const provider = {
      customer_id: "demo",
      issuer: "https://login.demo.example",
      audience: "optiinfra-portal",
      jwks_url: "https://login.demo.example/jwks",
      role_claim: "optiinfra_role",
      default_role: "viewer",
    };
    const mock = mockFetch(
      routes([
        { method: "PUT", path: "/v1/customers/demo/identity-provider", body: provider },
        { method: "DELETE", path: "/v1/customers/demo/identity-provider", status: 204 },
      ]),
    );
    show("admin");
    const idp = await screen.findByRole("region", { name: "Identity provider" });
    expect(await within(idp).findByText("No identity provider is registered.")).toBeInTheDocument();
    expect(within(idp).queryByRole("button", { name: "Remove identity provider" })).not.toBeInTheDocument();
    await userEvent.type(within(idp).getByRole("textbox", { name: "Issuer" }), provider.issuer);
    await userEvent.type(within(idp).getByRole("textbox", { name: "Audience" }), provider.audience);
    await userEvent.type(within(idp).getByRole("textbox", { name: "JWKS URL" }), provider.jwks_url);
    await userEvent.selectOptions(within(idp).getByRole("combobox", { name: "Default role" }), "viewer");
    await userEvent.click(within(idp).getByRole("button", { name: "Save identity provider" }));
    expect(await within(idp).findByRole("status")).toHaveTextContent("Saved the identity provider of demo.");
    expect(await sent(mock, "PUT")[0]!.json()).toEqual({
      issuer: provider.issuer,
      audience: provider.audience,
      jwks_url: provider.jwks_url,
      role_claim: "optiinfra_role",
      default_role: "viewer",
    });
    await userEvent.click(within(idp).getByRole("button", { name: "Remove identity provider" }));
    await userEvent.click(within(screen.getByRole("dialog", { name: "Remove the identity provider?" })).getByRole("button", { name: "Remove" }));
    expect(await within(idp).findByText("No identity provider is registered.")).toBeInTheDocument();
    expect(sent(mock, "DELETE")).toHaveLength(1);
  });

  it("shows a 409 from the identity provider as an alert", async () => {
    mockFetch(routes([{ method: "PUT", path: "/v1/customers/demo/identity-provider", status: 409, body: { detail: "the issuer is registered for acme" } }]));
    show("admin");
    const idp = await screen.findByRole("region", { name: "Identity provider" });
    await within(idp).findByText("No identity provider is registered.");
    await userEvent.type(within(idp).getByRole("textbox", { name: "Issuer" }), "https://x");
    await userEvent.type(within(idp).getByRole("textbox", { name: "Audience" }), "a");
    await userEvent.type(within(idp).getByRole("textbox", { name: "JWKS URL" }), "https://x/jwks");
    await userEvent.click(within(idp).getByRole("button", { name: "Save identity provider" }));
    expect(await within(idp).findByRole("alert")).toHaveTextContent("the issuer is registered for acme");
  });

  it("lets a platform admin pick the customer", async () => {
    const mock = mockFetch(routes());
    renderPage(<SettingsPage />, { route: "/settings", path: "/settings", role: "admin" });
    const select = await screen.findByRole("combobox", { name: "Customer" });
    await waitFor(() => expect(select).toHaveValue("acme"));
    await waitFor(() => expect(screen.getByRole("combobox", { name: "Operating mode" })).toHaveValue("advisory"));
    await userEvent.selectOptions(select, "demo");
    const policy = await screen.findByRole("form", { name: "Automation policy" });
    await waitFor(() => expect(within(policy).getByRole("combobox", { name: "Operating mode" })).toHaveValue("semi_autonomous"));
    expect(sent(mock, "GET").some((request) => new URL(request.url).pathname === "/v1/customers/demo/api-keys")).toBe(true);
  });

  it("shows a viewer the settings read-only", async () => {
    mockFetch(routes());
    show("viewer");
    await screen.findByRole("region", { name: "Automation policy" });
    expect(screen.queryByRole("button")).not.toBeInTheDocument();
  });
});
