/** ListPodSandbox / ListContainers / List*Stats filters: id (or unique prefix), state, sandbox, labels. */
export function matchesLabels(labels: Record<string, string> | undefined, selector: Record<string, string> | undefined): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector)) if ((labels ?? {})[k] !== v) return false;
  return true;
}

/** An id filter matches the id itself or a prefix of it (crictl passes what the user typed). */
export function matchesId(id: string, filter: string | undefined): boolean {
  return !filter || id.startsWith(filter);
}
