/**
 * Kubernetes resource quantities (`250m`, `64Mi`, `1e3`) as strings. The agent copies them from a
 * RuntimeHandler into a RuntimeClass and compares what it wrote with what it reads back; the API server
 * rewrites a core object's quantities in canonical form (`1000m` reads back as `1`, `1024Mi` as `1Gi`), so a
 * comparison by string would see a change that is none. quantityEquals compares the exact values.
 */

/** The grammar of k8s.io/apimachinery's resource.Quantity: sign, decimal number, suffix (binary, decimal or exponent). */
const QUANTITY = /^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$/;

/** The exact value as a fraction. */
interface Exact {
  readonly num: bigint;
  readonly den: bigint;
}

const BINARY: Record<string, number> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

const MAX_EXPONENT = 64;

function exact(s: string): Exact | undefined {
  const m = QUANTITY.exec(s);
  if (!m) return undefined;
  const [, sign, number, suffix = ''] = m;
  const [whole, fraction = ''] = number.split('.');
  let num = BigInt(`${whole || '0'}${fraction}`) * (sign === '-' ? -1n : 1n);
  let den = 10n ** BigInt(fraction.length);
  let exp10 = 0;
  if (suffix in BINARY) num *= 1024n ** BigInt(BINARY[suffix]);
  else if (suffix in DECIMAL) exp10 = DECIMAL[suffix];
  else if (suffix) exp10 = Number(suffix.slice(1));
  // Beyond this no resource amount makes sense, and 10n ** 1e9 would never finish.
  if (Math.abs(exp10) > MAX_EXPONENT) return undefined;
  if (exp10 >= 0) num *= 10n ** BigInt(exp10);
  else den *= 10n ** BigInt(-exp10);
  return { num, den };
}

export const isQuantity = (s: string): boolean => exact(s) !== undefined;

/** Not negative (the RuntimeClass API rejects negative overhead; "-0" is zero). */
export function isNonNegativeQuantity(s: string): boolean {
  const v = exact(s);
  return v !== undefined && v.num >= 0n;
}

/** The same amount, however spelled; false when either is no quantity. */
export function quantityEquals(a: string, b: string): boolean {
  const x = exact(a);
  const y = exact(b);
  return x !== undefined && y !== undefined && x.num * y.den === y.num * x.den;
}
