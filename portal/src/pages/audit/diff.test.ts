import { describe, expect, it } from "vitest";
import { diffFields, showValue } from "./diff";

describe("diffFields", () => {
  it("lists only the changed leaves by dotted path", () => {
    const before = { name: "Demo", automation: { operating_mode: "advisory", auto_execute_min_confidence: 0.8 }, budget: { max_gpus: null } };
    const after = { name: "Demo", automation: { operating_mode: "autonomous", auto_execute_min_confidence: 0.8 }, budget: { max_gpus: 16 } };
    expect(diffFields(before, after)).toEqual([
      { path: "automation.operating_mode", before: "advisory", after: "autonomous" },
      { path: "budget.max_gpus", before: null, after: 16 },
    ]);
  });

  it("treats a missing side as a creation or deletion", () => {
    expect(diffFields(null, { paused: false, cron: ["0 2 * * *"] })).toEqual([
      { path: "cron", before: undefined, after: ["0 2 * * *"] },
      { path: "paused", before: undefined, after: false },
    ]);
    expect(diffFields({ a: 1 }, null)).toEqual([{ path: "a", before: 1, after: undefined }]);
  });

  it("shows values readably", () => {
    expect(showValue(undefined)).toBe("—");
    expect(showValue(null)).toBe("null");
    expect(showValue("x")).toBe("x");
    expect(showValue(["a"])).toBe('["a"]');
  });
});
