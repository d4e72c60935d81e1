import { describe, expect, it } from "vitest";
import { can } from "./roles";

describe("can", () => {
  it("orders roles viewer < approver < operator < admin", () => {
    expect(can("viewer", "approver")).toBe(false);
    expect(can("approver", "approver")).toBe(true);
    expect(can("operator", "approver")).toBe(true);
    expect(can("operator", "admin")).toBe(false);
    expect(can("admin", "operator")).toBe(true);
    expect(can(null, "viewer")).toBe(false);
    expect(can("root", "viewer")).toBe(false);
  });
});
