/** Docker Engine's and containerd's registry settings carried over to berthd's (src/agent/migrate/registries-*.ts). */
import { describe, expect, test } from '@jest/globals';
import { validateRegistriesConfig } from '../../src/image/api';
import { dockerRegistryHost, registriesFromDocker } from '../../src/agent/migrate/registries-docker';
import { registriesFromContainerdConfig, registriesFromHostsToml } from '../../src/agent/migrate/registries-containerd';

const DAEMON = '/etc/docker/daemon.json';
const CONFIG = '/root/.docker/config.json';

describe('registriesFromDocker', () => {
  test('mirrors go to docker.io, insecure hosts are marked, credentials go to their host; the result is a valid berthd config', () => {
    const r = registriesFromDocker(
      { file: DAEMON, text: JSON.stringify({ 'registry-mirrors': ['https://mirror.example.com/'], 'insecure-registries': ['registry.lan:5000', '10.0.0.0/8'], 'log-driver': 'json-file' }) },
      { file: CONFIG, text: JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: 'dXNlcjpwYXNz' }, 'ghcr.io': { identitytoken: 'tok' }, 'quay.io': {} }, credHelpers: { 'gcr.io': 'gcloud' } }) },
    );
    expect(r.registries).toEqual({
      'docker.io': { mirrors: ['https://mirror.example.com'], auth: { auth: 'dXNlcjpwYXNz' } },
      'registry.lan:5000': { insecure: true },
      'ghcr.io': { auth: { identityToken: 'tok' } },
    });
    expect(() => validateRegistriesConfig(r.registries, 'registries')).not.toThrow();
    expect(r.carried).toHaveLength(4);
    expect(r.notCarried.map((l) => l.split(' (')[0])).toEqual(['insecure registry range 10.0.0.0/8', 'credentials for quay.io', 'credential helper "gcloud" for gcr.io']);
  });

  test('absent files carry nothing; a file that is not JSON is reported by name', () => {
    expect(registriesFromDocker()).toEqual({ registries: {}, carried: [], notCarried: [] });
    expect(registriesFromDocker({ file: DAEMON, text: '{ nope' }).notCarried[0]).toMatch(/^\/etc\/docker\/daemon\.json: not JSON/);
  });

  test('Docker Hub has several names', () => {
    for (const k of ['https://index.docker.io/v1/', 'index.docker.io', 'registry-1.docker.io', 'docker.io']) expect(dockerRegistryHost(k)).toBe('docker.io');
    expect(dockerRegistryHost('https://registry.lan:5000/v2/')).toBe('registry.lan:5000');
  });
});

describe('from containerd', () => {
  test('hosts.toml: pull hosts are mirrors in order, server last when it is not the upstream; TLS per mirror; paths and push-only hosts reported', () => {
    const r = registriesFromHostsToml('docker.io', '/etc/containerd/certs.d/docker.io/hosts.toml', `
server = "https://registry-1.docker.io"   # the default

[host."https://mirror.example.com"]
  capabilities = ["pull", "resolve"]
  ca = "/etc/certs/mirror.pem"

[host."http://10.0.0.5:5000/cache/v2"]
  capabilities = [
    "pull",
    "resolve",
  ]
  skip_verify = true

[host."https://push.example.com"]
  capabilities = ["push"]
`);
    expect(r.registries).toEqual({
      'docker.io': { mirrors: ['https://mirror.example.com', 'http://10.0.0.5:5000'] },
      'mirror.example.com': { ca: '/etc/certs/mirror.pem' },
      '10.0.0.5:5000': { insecure: true },
    });
    expect(() => validateRegistriesConfig(r.registries, 'registries')).not.toThrow();
    expect(r.notCarried.map((l) => l.slice(0, 30))).toEqual(['the path /cache/v2 of http://1', 'https://push.example.com (/etc']);
    const byServer = registriesFromHostsToml('registry.lan', 'h.toml', 'server = "https://cache.lan"\n');
    expect(byServer.registries).toEqual({ 'registry.lan': { mirrors: ['https://cache.lan'] } });
    expect(registriesFromHostsToml('_default', 'h.toml', '[host."https://all.example.com"]\n').registries).toEqual({ '*': { mirrors: ['https://all.example.com'] } });
  });

  test('containerd 1.6 config.toml: the CRI plugin\'s mirrors, TLS and auth tables', () => {
    const r = registriesFromContainerdConfig('/etc/containerd/config.toml', `version = 2
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = ""
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
    endpoint = ["https://mirror.example.com", "https://registry-1.docker.io"]
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."registry.lan:5000"]
    endpoint = ["http://registry.lan:5000"]
  [plugins."io.containerd.grpc.v1.cri".registry.configs."registry.lan:5000".tls]
    insecure_skip_verify = true
  [plugins."io.containerd.grpc.v1.cri".registry.configs."ghcr.io".auth]
    username = "bot"
    password = "s3cret" # a comment
`);
    expect(r.registries).toEqual({
      'docker.io': { mirrors: ['https://mirror.example.com', 'https://registry-1.docker.io'] },
      'registry.lan:5000': { insecure: true },
      'ghcr.io': { auth: { username: 'bot', password: 's3cret' } },
    });
    expect(() => validateRegistriesConfig(r.registries, 'registries')).not.toThrow();
  });
});
