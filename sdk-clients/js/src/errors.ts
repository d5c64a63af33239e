/**
 * Errors of the SDK: everything the API refuses arrives as an
 * {@link OnAirError} carrying the API's own `{code, message}`.
 * @packageDocumentation
 */

/** A refusal or failure of OnAir's API (or of the SDK talking to it). */
export class OnAirError extends Error {
  /** HTTP status; 0 when no answer came (network error, socket refusal). */
  readonly status: number;
  /** The API's machine-readable reason (`expired`, `backstage`, `call_ended`, …). */
  readonly code: string;
  /** Extra context the API gave (`{capability}` for `missing_capability`, …). */
  readonly details?: unknown;

  /** An error with `status`, the API's `code` and `message`, and optional `details`. */
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = "OnAirError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** The {@link OnAirError} of a failed `response` (its JSON `{code, message}`, or its status text). */
export async function errorFrom(response: Response): Promise<OnAirError> {
  const text = await response.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { code?: unknown; message?: unknown; details?: unknown };
    if (typeof body.code === "string") {
      return new OnAirError(response.status, body.code, String(body.message ?? ""), body.details);
    }
  } catch {
    // Not JSON: a proxy's page, or nothing.
  }
  return new OnAirError(response.status, "http_error", `${response.status} ${response.statusText}`.trim());
}
