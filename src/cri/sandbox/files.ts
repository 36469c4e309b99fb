/**
 * The texts of a sandbox's /etc/resolv.conf, /etc/hosts and /etc/hostname (pure: the caller writes them). Field
 * names in errors are those of RunPodSandboxRequest (`config.dns_config…`). Every value is checked for
 * whitespace and line breaks, which would otherwise let a request write lines of its own into the files.
 */
import * as net from 'node:net';
import { invalid } from '../../common/errors';
import type { DNSConfig } from '../types';

function word(v: string, field: string): string {
  if (v === '' || /[\s\0#;]/.test(v)) throw invalid(field, `"${v}" must be one non-empty word`);
  return v;
}

function ip(v: string, field: string): string {
  if (net.isIP(v) === 0) throw invalid(field, `"${v}" is not an IP address`);
  return v;
}

/**
 * resolv.conf from the pod's DNS config as containerd writes it (search, then nameservers, then options); a pod
 * without one (or with an empty one) gets the host's text unchanged.
 */
export function resolvConf(dns: DNSConfig | null, hostResolv: string): string {
  if (!dns || (dns.servers.length === 0 && dns.searches.length === 0 && dns.options.length === 0)) return hostResolv;
  const f = 'config.dns_config';
  let text = '';
  if (dns.searches.length > 0) text += `search ${dns.searches.map((s, i) => word(s, `${f}.searches[${i}]`)).join(' ')}\n`;
  for (const [i, s] of dns.servers.entries()) text += `nameserver ${ip(s, `${f}.servers[${i}]`)}\n`;
  if (dns.options.length > 0) text += `options ${dns.options.map((o, i) => word(o, `${f}.options[${i}]`)).join(' ')}\n`;
  return text;
}

/** kubelet's managed hosts file: the loopback names, then each pod IP with the pod's hostname. */
export function hostsFile(hostname: string, ips: string[]): string {
  const name = word(hostname, 'config.hostname');
  const lines = [
    '# Kubernetes-managed hosts file.',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
    ...ips.map((a, i) => `${ip(a, `ips[${i}]`)}\t${name}`),
  ];
  return `${lines.join('\n')}\n`;
}

export function hostnameFile(name: string): string {
  return `${word(name, 'config.hostname')}\n`;
}
