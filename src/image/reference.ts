/**
 * Image references, parsed and normalised exactly as kubelet and containerd do (github.com/distribution/reference
 * `ParseNormalizedNamed` + containerd's `ParseDockerRef`):
 *
 *   busybox                      → docker.io/library/busybox:latest
 *   user/app:1.0                 → docker.io/user/app:1.0
 *   localhost:5000/app           → localhost:5000/app:latest
 *   app@sha256:…                 → docker.io/library/app@sha256:…
 *   app:tag@sha256:…             → docker.io/library/app@sha256:… (the digest wins; the tag is kept in `tag`)
 */
import { invalid } from '../common/errors';
import { parseDigest, type Digest } from './digest';

export const DEFAULT_DOMAIN = 'docker.io';
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
export const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
export const NAME_TOTAL_LENGTH_MAX = 255;

export interface ImageReference {
  /** Registry host as written (`docker.io`, `127.0.0.1:5000`, `[::1]:5000`). */
  domain: string;
  /** Repository path inside the registry (`library/busybox`). */
  path: string;
  /** `domain/path`. */
  name: string;
  /** The tag: as written, or `latest` when neither tag nor digest was given. */
  tag?: string;
  digest?: Digest;
  /** What containerd stores: `name:tag` or `name@digest` (a digest drops the tag). */
  normalized: string;
  /** What the registry is asked for: the digest when present, else the tag. */
  lookup: string;
}

// distribution/reference regexp.go
const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainName = `${domainComponent}(?:\\.${domainComponent})*`;
const host = `(?:${domainName}|${ipv6})`;
const domainAndPort = `${host}(?::[0-9]+)?`;
const PATH_COMPONENT = new RegExp(`^${pathComponent}$`);
const DOMAIN = new RegExp(`^${domainAndPort}$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST_SHAPE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const ANCHORED_IDENTIFIER = /^[a-f0-9]{64}$/;

/** Parses `ref` the way kubelet/containerd do; errors are InvalidArgument on `field` and name the bad part. */
export function parseReference(ref: string, field = 'image'): ImageReference {
  if (typeof ref !== 'string' || ref.trim() === '') throw invalid(field, 'image reference is empty');
  if (ref !== ref.trim() || /\s/.test(ref)) throw invalid(field, `invalid reference "${ref}": contains whitespace`);
  if (ANCHORED_IDENTIFIER.test(ref)) {
    throw invalid(field, `invalid repository name "${ref}": cannot specify 64-byte hexadecimal strings (use sha256:<hex> or name@sha256:<hex>)`);
  }

  // Split off the digest first (it contains a ':'), then the tag (a ':' after the last '/').
  let rest = ref;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_SHAPE.test(d)) throw invalid(field, `invalid reference "${ref}": bad digest "${d}"`);
    parseDigest(d, field);
    digest = d as Digest;
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      throw invalid(field, `invalid reference "${ref}": bad tag "${tag}" (letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-')`);
    }
  }
  if (rest === '') throw invalid(field, `invalid reference "${ref}": repository name is empty`);

  const [domain, remote] = splitDockerDomain(rest);
  if (remote.toLowerCase() !== remote) throw invalid(field, `invalid reference "${ref}": repository name "${remote}" must be lowercase`);
  if (!DOMAIN.test(domain)) throw invalid(field, `invalid reference "${ref}": bad registry host "${domain}"`);
  const port = /:(\d+)$/.exec(domain.replace(/^\[[^\]]*\]/, ''));
  if (port && Number(port[1]) > 65535) throw invalid(field, `invalid reference "${ref}": bad registry port "${port[1]}"`);
  for (const component of remote.split('/')) {
    if (component === '') throw invalid(field, `invalid reference "${ref}": empty path component in "${remote}"`);
    if (!PATH_COMPONENT.test(component)) {
      throw invalid(field, `invalid reference "${ref}": bad path component "${component}" (lowercase letters, digits and separators '.', '_', '__', '-' between them)`);
    }
  }
  const name = `${domain}/${remote}`;
  if (name.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(field, `invalid reference "${ref}": repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters (is ${name.length})`);
  }
  if (!tag && !digest) tag = DEFAULT_TAG;
  const normalized = digest ? `${name}@${digest}` : `${name}:${tag}`;
  return { domain, path: remote, name, tag, digest, normalized, lookup: digest ?? tag! };
}

/** distribution/reference normalize.go splitDockerDomain. */
function splitDockerDomain(name: string): [string, string] {
  const slash = name.indexOf('/');
  if (slash < 0) return [DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name];
  const maybeDomain = name.slice(0, slash);
  const maybeRemote = name.slice(slash + 1);
  let domain: string;
  let remote: string;
  if (maybeDomain === 'localhost') [domain, remote] = [maybeDomain, maybeRemote];
  else if (maybeDomain === LEGACY_DEFAULT_DOMAIN) [domain, remote] = [DEFAULT_DOMAIN, maybeRemote];
  else if (/[.:]/.test(maybeDomain)) [domain, remote] = [maybeDomain, maybeRemote];
  else if (maybeDomain.toLowerCase() !== maybeDomain) [domain, remote] = [maybeDomain, maybeRemote];
  else [domain, remote] = [DEFAULT_DOMAIN, name];
  if (domain === DEFAULT_DOMAIN && !remote.includes('/')) remote = OFFICIAL_REPO_PREFIX + remote;
  return [domain, remote];
}

/** The short form docker prints (`busybox:latest`, `user/app:1`); the inverse of the normalisation. */
export function familiarName(ref: ImageReference): string {
  let n = ref.name;
  if (ref.domain === DEFAULT_DOMAIN) {
    n = ref.path.startsWith(OFFICIAL_REPO_PREFIX) && ref.path.split('/').length === 2 ? ref.path.slice(OFFICIAL_REPO_PREFIX.length) : ref.path;
  }
  return ref.digest ? `${n}@${ref.digest}` : `${n}:${ref.tag}`;
}
