/** Type guards for data that crosses the comm (traits and custom messages are untyped JSON). */

/**
 * True for any non-null object, arrays included: a reader then picks the fields it knows
 * and checks each one, so an array simply has none of them. Callers that must tell a
 * JSON object from an array (e.g. viewstate's "filters") add `!Array.isArray(v)` themselves.
 */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null;
}
