import type { Role } from "../api/types";

const RANK: Record<Role, number> = { viewer: 0, approver: 1, operator: 2, admin: 3 };

/** Whether `role` includes `needed` (admin ⊃ operator ⊃ approver ⊃ viewer). Unknown roles get nothing. */
export function can(role: Role | string | null | undefined, needed: Role): boolean {
  if (!role || !(role in RANK)) return false;
  return RANK[role as Role] >= RANK[needed];
}

/** What each role may do in the portal. */
export const ABILITIES = {
  decide: "approver", // Approve / Reject
  optimize: "operator", // start optimizations, joint optimizations
  schedule: "operator", // create / pause / resume / delete schedules
  administer: "admin", // settings, API keys, identity provider
} as const satisfies Record<string, Role>;
