import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { ScanScheduleView } from "../api/types";
import { mockFetch, renderPage, requestOf, type MockRoute } from "../test/render";
import { SchedulesPage } from "./SchedulesPage";

function schedule(overrides: Partial<ScanScheduleView> = {}): ScanScheduleView {
  return {
    schedule_id: "nightly",
    temporal_schedule_id: "optiinfra/scan/demo/nightly",
    cron: ["0 2 * * *"],
    timezone: "UTC",
    customer_id: "demo",
    agents: ["cost", "performance", "resource", "application"],
    note: "Nightly fleet scan",
    paused: false,
    pause_note: null,
    next_action_times: ["2026-12-08T02:00:00Z", "2026-12-09T02:00:00Z"],
    recent_runs: [
      {
        scheduled_at: "2026-12-07T02:00:00Z",
        started_at: "2026-12-07T02:00:01Z",
        workflow_id: "scan/nightly-2026-12-07T02:00:00Z",
        run_id: "r1",
      },
    ],
    ...overrides,
  };
}

const PAUSED = schedule({ schedule_id: "weekly", cron: ["0 3 * * 1"], paused: true, pause_note: "holiday freeze", note: "", recent_runs: [] });

function routes(extra: MockRoute[] = []): MockRoute[] {
  return [
    ...extra,
    { path: "/v1/schedules", body: { items: [schedule(), PAUSED], total: 2, limit: 20, offset: 0 } },
    { path: "/v1/customers", body: { items: [{ customer_id: "demo", name: "Demo Inc." }], total: 1, limit: 500, offset: 0 } },
  ];
}

function show(role: "viewer" | "operator" | "admin") {
  return renderPage(<SchedulesPage />, { route: "/schedules", path: "/schedules", role });
}

function requests(mock: ReturnType<typeof mockFetch>, method: string): Request[] {
  return mock.mock.calls.map((_, index) => requestOf(mock, index)).filter((request) => request.method === method);
}

function rowOf(scheduleId: string): HTMLElement {
  return screen.getByText(scheduleId, { selector: "span" }).closest("tr")!;
}

describe("SchedulesPage", () => {
  it("lists schedules with state, cron, next and last runs and the pause note", async () => {
    mockFetch(routes());
    show("viewer");
    expect(await screen.findByRole("heading", { level: 1, name: "Schedules" })).toBeInTheDocument();
    await screen.findByRole("table", { name: "Schedules" });
    const nightly = rowOf("nightly");
    expect(within(nightly).getByText("active")).toBeInTheDocument();
    expect(within(nightly).getByText("0 2 * * *")).toBeInTheDocument();
    expect(within(nightly).getByText("2026-12-08 02:00 UTC")).toBeInTheDocument();
    expect(within(nightly).getByRole("link", { name: "scan/nightly-2026-12-07T02:00:00Z" })).toBeInTheDocument();
    const weekly = rowOf("weekly");
    expect(within(weekly).getAllByText("paused").length).toBeGreaterThan(0);
    expect(within(weekly).getByText("Note: holiday freeze")).toBeInTheDocument();
    expect(within(weekly).getByText("none yet")).toBeInTheDocument();
  });

  it("shows a viewer no buttons and no form", async () => {
    mockFetch(routes());
    show("viewer");
    await screen.findByRole("table", { name: "Schedules" });
    for (const name of ["Pause", "Resume", "Delete", "Create schedule"]) {
      expect(screen.queryByRole("button", { name })).not.toBeInTheDocument();
    }
    expect(screen.queryByRole("form", { name: "New schedule" })).not.toBeInTheDocument();
  });

  it("pauses with the row's note and resumes, naming the schedule's owner", async () => {
    const mock = mockFetch(
      routes([
        { method: "POST", path: "/v1/schedules/nightly/pause", body: schedule({ paused: true }) },
        { method: "POST", path: "/v1/schedules/weekly/unpause", body: { ...PAUSED, paused: false } },
      ]),
    );
    show("operator");
    await screen.findByRole("table", { name: "Schedules" });
    const pause = screen.getByRole("button", { name: "Pause" });
    expect(pause).toHaveAccessibleDescription("nightly");
    await userEvent.type(screen.getByRole("textbox", { name: "Note for nightly (demo)" }), "load test");
    await userEvent.click(pause);
    expect(await screen.findByRole("status")).toHaveTextContent("Paused schedule nightly.");
    await userEvent.click(screen.getByRole("button", { name: "Resume" }));
    await waitFor(() => expect(screen.getByRole("status")).toHaveTextContent("Resumed schedule weekly."));
    const [first, second] = requests(mock, "POST");
    expect(new URL(first!.url).pathname).toBe("/v1/schedules/nightly/pause");
    expect(new URL(first!.url).searchParams.get("customer_id")).toBe("demo");
    expect(await first!.json()).toEqual({ note: "load test" });
    expect(new URL(second!.url).pathname).toBe("/v1/schedules/weekly/unpause");
    expect(await second!.json()).toEqual({ note: "" });
  });

  it("deletes only after confirming in a dialog", async () => {
    const mock = mockFetch(routes([{ method: "DELETE", path: "/v1/schedules/nightly", status: 204 }]));
    show("operator");
    await screen.findByRole("table", { name: "Schedules" });
    const deleteButtons = screen.getAllByRole("button", { name: "Delete" });
    expect(deleteButtons).toHaveLength(2);
    await userEvent.click(deleteButtons[0]!);
    const dialog = screen.getByRole("dialog", { name: "Delete schedule nightly?" });
    expect(within(dialog).getByRole("button", { name: "Cancel" })).toHaveFocus();
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(requests(mock, "DELETE")).toHaveLength(0);
    await userEvent.click(screen.getAllByRole("button", { name: "Delete" })[0]!);
    await userEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Delete schedule" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(screen.getByRole("status")).toHaveTextContent("Deleted schedule nightly.");
    const [sent] = requests(mock, "DELETE");
    expect(new URL(sent!.url).pathname).toBe("/v1/schedules/nightly");
    expect(new URL(sent!.url).searchParams.get("customer_id")).toBe("demo");
  });

  it("creates a schedule from the form", async () => {
    const mock = mockFetch(
      routes([{ method: "POST", path: "/v1/schedules", status: 201, body: schedule({ schedule_id: "hourly", cron: ["0 * * * *"] }) }]),
    );
    show("admin");
    const form = await screen.findByRole("form", { name: "New schedule" });
    await userEvent.type(within(form).getByRole("textbox", { name: "Schedule id" }), "hourly");
    const cron = within(form).getByRole("textbox", { name: "Cron expressions" });
    await userEvent.clear(cron);
    await userEvent.type(cron, "0 * * * *{enter}30 * * * *");
    await userEvent.clear(within(form).getByRole("textbox", { name: "Time zone" }));
    await userEvent.type(within(form).getByRole("textbox", { name: "Time zone" }), "Europe/Berlin");
    await userEvent.selectOptions(within(form).getByRole("combobox", { name: "Customer to scan" }), "demo");
    await userEvent.click(within(form).getByRole("checkbox", { name: "Application" }));
    await userEvent.type(within(form).getByRole("textbox", { name: "Note" }), "every hour");
    await userEvent.click(within(form).getByRole("button", { name: "Create schedule" }));
    expect(await within(form).findByRole("status")).toHaveTextContent("Created schedule hourly.");
    const [sent] = requests(mock, "POST");
    expect(new URL(sent!.url).pathname).toBe("/v1/schedules");
    expect(await sent!.json()).toEqual({
      schedule_id: "hourly",
      cron: ["0 * * * *", "30 * * * *"],
      timezone: "Europe/Berlin",
      customer_id: "demo",
      agents: ["cost", "performance", "resource"],
      note: "every hour",
    });
  });

  it("shows 409 and 422 details in an alert", async () => {
    let answer = { status: 409, detail: "schedule nightly exists" };
    mockFetch(routes([{ method: "POST", path: "/v1/schedules", status: 409, body: () => ({ detail: answer.detail }) }]));
    show("operator");
    const form = await screen.findByRole("form", { name: "New schedule" });
    await userEvent.type(within(form).getByRole("textbox", { name: "Schedule id" }), "nightly");
    await userEvent.click(within(form).getByRole("button", { name: "Create schedule" }));
    expect(await within(form).findByRole("alert")).toHaveTextContent("schedule nightly exists");
    answer = { status: 422, detail: "unknown time zone Mars/Olympus" };
    await userEvent.click(within(form).getByRole("button", { name: "Create schedule" }));
    await waitFor(() => expect(within(form).getByRole("alert")).toHaveTextContent("unknown time zone Mars/Olympus"));
  });

  it("checks the id before sending", async () => {
    const mock = mockFetch(routes());
    show("operator");
    const form = await screen.findByRole("form", { name: "New schedule" });
    await userEvent.type(within(form).getByRole("textbox", { name: "Schedule id" }), "Not Valid");
    await userEvent.click(within(form).getByRole("button", { name: "Create schedule" }));
    expect(within(form).getByRole("alert")).toHaveTextContent("lower-case letters");
    expect(requests(mock, "POST")).toHaveLength(0);
  });

  it("shows a failed pause as an alert", async () => {
    mockFetch(routes([{ method: "POST", path: "/v1/schedules/nightly/pause", status: 503, body: { detail: "Temporal is unreachable" } }]));
    show("operator");
    await screen.findByRole("table", { name: "Schedules" });
    await userEvent.click(screen.getByRole("button", { name: "Pause" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Temporal is unreachable");
  });
});
