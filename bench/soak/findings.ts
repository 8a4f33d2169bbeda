// Violations found by the checks: counted per invariant, with the first few examples kept verbatim.

export interface Violation {
  invariant: string;
  count: number;
  examples: string[];
}

export class Findings {
  private readonly byInvariant = new Map<string, Violation>();
  /** How many individual facts were checked (rows, acknowledged writes, replays). */
  checked = 0;

  constructor(readonly phase: string) {}

  /** Counts one check; records a violation of `invariant` when `ok` is false. */
  expect(ok: boolean, invariant: string, detail: () => string): void {
    this.checked++;
    if (!ok) this.violate(invariant, detail());
  }

  violate(invariant: string, detail: string): void {
    const v = this.byInvariant.get(invariant) ?? { invariant, count: 0, examples: [] };
    v.count++;
    if (v.examples.length < 5) v.examples.push(detail);
    this.byInvariant.set(invariant, v);
  }

  get violations(): Violation[] {
    return [...this.byInvariant.values()];
  }

  get total(): number {
    return this.violations.reduce((s, v) => s + v.count, 0);
  }
}
