/** One line for a failed outgoing HTTP request (webhooks, the risk hook): never the body, at most 200 characters. */
export function describeFetchError(e: unknown, timeoutMs: number): string {
  if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) return `timeout after ${timeoutMs} ms`;
  const cause = e instanceof Error ? (e.cause as { code?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return `connection failed: ${cause.code}`;
  return `request failed: ${e instanceof Error ? e.message : String(e)}`.slice(0, 200);
}
