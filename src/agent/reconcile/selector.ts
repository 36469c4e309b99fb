/** Label selection as RuntimeHandler.spec.nodeSelector means it: every key present with exactly that value; empty selects all. */
export function matchesSelector(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels !== undefined && Object.prototype.hasOwnProperty.call(labels, k) && labels[k] === v);
}
