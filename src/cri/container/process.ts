/** The container process' argv, environment and working directory from the CRI config over the image's. */
import * as path from 'node:path';
import { invalid } from '../../common/errors';
import type { ImageRunConfig } from '../../image/api';
import type { ContainerConfig } from '../types';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Kubernetes' command/args over the image's Entrypoint/Cmd (the rule kubelet documents and containerd
 * implements): command replaces Entrypoint and drops Cmd; args alone replace Cmd only.
 */
export function processArgs(config: ContainerConfig, image: ImageRunConfig): string[] {
  // `ENTRYPOINT [""]` is how a Dockerfile clears an inherited entrypoint.
  const entrypoint = image.entrypoint.length === 1 && image.entrypoint[0] === '' ? [] : image.entrypoint;
  const argv = config.command.length > 0
    ? [...config.command, ...config.args]
    : [...entrypoint, ...(config.args.length > 0 ? config.args : image.cmd)];
  if (argv.length === 0) throw invalid('config.command', 'no program to run: neither command/args nor the image\'s Entrypoint/Cmd name one');
  if (argv[0] === '') throw invalid('config.command', 'the program to run is an empty string');
  return argv;
}

/**
 * PATH and HOSTNAME defaults, then the image's variables, then CRI's: a later value replaces an earlier one
 * with the same name in place, so the order stays stable (containerd's order, too).
 */
export function processEnv(config: ContainerConfig, image: ImageRunConfig, hostname: string): string[] {
  const env: string[] = [];
  const at = new Map<string, number>();
  const set = (key: string, entry: string) => {
    const i = at.get(key);
    if (i === undefined) {
      at.set(key, env.length);
      env.push(entry);
    } else {
      env[i] = entry;
    }
  };
  set('PATH', `PATH=${DEFAULT_PATH}`);
  set('HOSTNAME', `HOSTNAME=${hostname}`);
  image.env.forEach((e, i) => {
    const eq = e.indexOf('=');
    if (eq <= 0) throw invalid(`image.config.Env[${i}]`, `"${e}" is not of the form NAME=VALUE`);
    set(e.slice(0, eq), e);
  });
  config.envs.forEach((kv, i) => {
    if (kv.key === '' || kv.key.includes('=') || kv.key.includes('\0')) throw invalid(`config.envs[${i}].key`, `"${kv.key}" is not a variable name`);
    // KeyValue.value is `bytes` on the wire since cri-api 0.36; environment values are text.
    const value = Buffer.isBuffer(kv.value) ? kv.value.toString('utf8') : String(kv.value);
    if (value.includes('\0')) throw invalid(`config.envs[${i}].value`, 'contains a NUL byte');
    set(kv.key, `${kv.key}=${value}`);
  });
  return env;
}

/** CRI's working_dir, else the image's WorkingDir, else "/". */
export function processCwd(config: ContainerConfig, image: ImageRunConfig): string {
  if (config.workingDir !== '') {
    if (!config.workingDir.startsWith('/')) throw invalid('config.working_dir', `must be an absolute path, got "${config.workingDir}"`);
    return config.workingDir;
  }
  // Docker takes a relative WorkingDir as relative to "/"; so do we.
  return image.workingDir !== '' ? path.posix.join('/', image.workingDir) : '/';
}
