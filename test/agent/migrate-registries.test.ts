/** Docker Engine's registry settings carried over to berthd's (src/agent/migrate/registries-docker.ts). */
import { describe, expect, test } from '@jest/globals';
import { validateRegistriesConfig } from '../../src/image/api';
import { dockerRegistryHost, registriesFromDocker } from '../../src/agent/migrate/registries-docker';

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
