/**
 * The one error the SDK throws for an API refusal.
 * @module
 */

/**
 * An error answer of the OnAir API: its HTTP status and the body's
 * `{code, message, details?}` (e.g. `401 bad_signature`, `403
 * missing_capability`, `409 call_ended`). An answer without such a body
 * gets the code `http_<status>`.
 */
export class OnAirError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** Machine-readable reason from the API (`expired`, `not_found`, …). */
  readonly code: string;
  /** Extra context the API gave (e.g. `{capability}`), if any. */
  readonly details: unknown;

  /** An error with the API's `status`, `code` and `message`. */
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = "OnAirError";
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** Reads an error answer (JSON `{code, message}` or anything else). */
  static fromResponse(status: number, text: string): OnAirError {
    try {
      const body = JSON.parse(text) as { code?: unknown; message?: unknown; details?: unknown };
      if (typeof body.code === "string") {
        const message = typeof body.message === "string" ? body.message : body.code;
        return new OnAirError(status, body.code, message, body.details);
      }
    } catch {
      // Not JSON: fall through.
    }
    return new OnAirError(status, `http_${status}`, text.slice(0, 200) || `HTTP ${status}`);
  }
}
