/** The ledger's vocabulary: a hold places money aside for one payment until it is posted or voided. */

/** Business results of a hold are values (TigerBeetle style); only misuse throws. */
export type HoldResult =
  | { ok: true; transferId: string }
  | { ok: false; code: 'insufficient_funds' | 'credit_limit_exceeded'; available: number };

export interface HoldRequest {
  paymentId: string;
  merchantId: string;
  billableAccountId: string;
  amount: number;
  currency: string;
}
