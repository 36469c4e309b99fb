import { BerthError } from '../../src/common/errors';
import { familiarName, parseReference } from '../../src/image/reference';

const D = `sha256:${'a'.repeat(64)}`;

describe('image references (kubelet/containerd normalisation)', () => {
  test.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['user/app:v1', 'docker.io/user/app:v1'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['registry.k8s.io/pause:3.9', 'registry.k8s.io/pause:3.9'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/app', 'localhost:5000/app:latest'],
    ['127.0.0.1:5000/a/b/c:tag', '127.0.0.1:5000/a/b/c:tag'],
    ['[::1]:5000/app:1', '[::1]:5000/app:1'],
    ['Example/app', 'Example/app:latest'],
    ['my-reg.example:443/x__y/z--w.v', 'my-reg.example:443/x__y/z--w.v:latest'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`busybox:1.36@${D}`, `docker.io/library/busybox@${D}`],
    [`host:5000/app:1@${D}`, `host:5000/app@${D}`],
  ])('%s → %s', (input, want) => {
    expect(parseReference(input).normalized).toBe(want);
  });

  test('parts', () => {
    const r = parseReference(`127.0.0.1:5000/team/app:v2@${D}`);
    expect(r).toMatchObject({ domain: '127.0.0.1:5000', path: 'team/app', name: '127.0.0.1:5000/team/app', tag: 'v2', digest: D, lookup: D });
    expect(parseReference('busybox').lookup).toBe('latest');
    expect(familiarName(parseReference('busybox'))).toBe('busybox:latest');
    expect(familiarName(parseReference('user/app:1'))).toBe('user/app:1');
  });

  test.each([
    ['', /empty/],
    ['Busybox', /must be lowercase/],
    ['docker.io/Library/busybox', /must be lowercase/],
    ['busybox:', /bad tag ""/],
    ['busybox:-x', /bad tag "-x"/],
    [`busybox:${'t'.repeat(129)}`, /bad tag/],
    ['busybox@sha256:abc', /bad digest/],
    [`busybox@sha256:${'A'.repeat(64)}`, /lowercase hex/],
    [`busybox@md5:${'a'.repeat(32)}`, /unsupported digest algorithm "md5"/],
    ['a'.repeat(64), /64-byte hexadecimal/],
    ['host:5000/', /repository name is empty|empty path component/],
    ['a//b', /empty path component/],
    ['host:5000/app--_x', /bad path component "app--_x"/],
    ['a/b_/c', /bad path component "b_"/],
    ['-host.example/app', /bad registry host/],
    ['my_reg.example:443/app', /bad registry host "my_reg.example:443"/],
    ['host.example:99999/app', /bad registry port/],
    ['bad space', /whitespace/],
    [`example.com/${'a'.repeat(250)}`, /must not be more than 255 characters/],
  ])('rejects %j', (input, msg) => {
    let err: unknown;
    try {
      parseReference(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).kind).toBe('InvalidArgument');
    expect((err as BerthError).field).toBe('image');
    expect((err as Error).message).toMatch(msg);
  });
});
