/**
 * A request as RBAC sees it: the verb, API group and resource (with its subresource) an authorizer checks.
 * The agent counts its requests this way so that what it really uses can be compared with the chart's rules.
 */
export interface RequestKind {
  /** get, list, watch, create, update, patch, delete, deletecollection. */
  verb: string;
  /** "" for the core group. */
  group: string;
  /** `pods`, `runtimehandlers/status`, … */
  resource: string;
}

const VERB_OF: Record<string, [collection: string, named: string]> = {
  GET: ['list', 'get'], POST: ['create', 'create'], PUT: ['update', 'update'], PATCH: ['patch', 'patch'], DELETE: ['deletecollection', 'delete'],
};

/** `/api/v1/namespaces/ns/pods`, `/apis/berth.dev/v1alpha1/runtimehandlers/x/status` → what RBAC checks. */
export function requestKind(method: string, path: string, watch = false): RequestKind {
  const parts = path.split('?')[0].split('/').filter(Boolean);
  let group = '';
  let rest: string[];
  if (parts[0] === 'api') rest = parts.slice(2);
  else {
    group = parts[1] ?? '';
    rest = parts.slice(3);
  }
  // A namespaced path; `/api/v1/namespaces[/name]` alone is the namespaces resource itself.
  if (rest[0] === 'namespaces' && rest.length > 2) rest = rest.slice(2);
  const [resource = '', name, sub] = rest;
  const verbs = VERB_OF[method] ?? [method.toLowerCase(), method.toLowerCase()];
  return {
    verb: watch ? 'watch' : verbs[name === undefined ? 0 : 1],
    group,
    resource: sub === undefined ? resource : `${resource}/${sub}`,
  };
}
