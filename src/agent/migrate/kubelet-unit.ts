/**
 * kubelet's command line as systemd builds it from the unit, its drop-ins and the env files they name, with
 * each word traced to the file it came from. Which `--container-runtime-endpoint` wins is the last one on
 * that command line, and the order of the files alone does not say it: kubeadm's ExecStart puts
 * $KUBELET_KUBEADM_ARGS (kubeadm-flags.env) before $KUBELET_EXTRA_ARGS, which may come from
 * /etc/default/kubelet or from an admin's drop-in, and EnvironmentFile= values override Environment= ones.
 * Pure, over the texts install/kubelet-cgroup.ts reads; only what kubelet's units use is modelled (no
 * specifiers, no quoting beyond '…' and "…").
 */
import type { TextFile } from '../install/kubelet-cgroup';

/** One word of the expanded command line and the file that put it there. */
export interface TracedWord {
  readonly word: string;
  readonly file: string;
}

/** Lines with `\`-continuations joined and comments dropped (systemd unit syntax). */
function unitLines(text: string): string[] {
  return text.replace(/\\\r?\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/^[#;]/.test(l));
}

/** Words of a systemd value: whitespace-separated, '…' and "…" quoting (quotes removed). */
function words(value: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (let m; (m = re.exec(value));) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

/** `KEY=value` lines of an env file (shell-like: optional quotes around the value). */
function envFileVars(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of unitLines(text)) {
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) out.push([m[1], m[2].replace(/^"(.*)"$|^'(.*)'$/, (_a, d: string | undefined, s: string | undefined) => d ?? s ?? '')]);
  }
  return out;
}

const isUnitFile = (file: string): boolean => file.endsWith('/kubelet.service') || file.includes('/kubelet.service.d/');

/**
 * The command line systemd runs for kubelet, traced; undefined when no unit with an ExecStart is among the
 * files (a kubelet not run by systemd, or a node whose unit was not read).
 */
export function expandKubeletExecStart(flagFiles: readonly TextFile[]): TracedWord[] | undefined {
  // Only the unit of highest precedence counts (/etc over /run over /usr/lib and /lib; readKubeletSources
  // reads them in that order, lowest first); its drop-ins then apply in order.
  const units = flagFiles.filter((f) => f.file.endsWith('/kubelet.service'));
  const chain = [...units.slice(-1), ...flagFiles.filter((f) => isUnitFile(f.file) && !f.file.endsWith('/kubelet.service'))];
  const env = new Map<string, TracedWord>();
  const envFiles: string[] = [];
  let exec: TracedWord[] | undefined;
  for (const f of chain) {
    for (const line of unitLines(f.text)) {
      const m = /^(Environment|EnvironmentFile|ExecStart)\s*=\s*(.*)$/.exec(line);
      if (!m) continue;
      if (m[1] === 'Environment') {
        for (const a of words(m[2])) {
          const eq = a.indexOf('=');
          if (eq > 0) env.set(a.slice(0, eq), { word: a.slice(eq + 1), file: f.file });
        }
      } else if (m[1] === 'EnvironmentFile') {
        if (m[2] === '') envFiles.length = 0;
        else envFiles.push(m[2].replace(/^-/, ''));
      } else {
        // An empty ExecStart= clears the ones before (how drop-ins replace the unit's).
        exec = m[2] === '' ? undefined : words(m[2].replace(/^[-@:+!]+/, '')).map((word) => ({ word, file: f.file }));
      }
    }
  }
  if (!exec) return undefined;
  // EnvironmentFile= is read when kubelet starts and overrides Environment=.
  for (const name of envFiles) {
    const f = flagFiles.find((x) => x.file === name);
    if (f) for (const [k, v] of envFileVars(f.text)) env.set(k, { word: v, file: f.file });
  }
  return exec.flatMap((w): TracedWord[] => {
    const whole = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(w.word);
    if (whole) { const v = env.get(whole[1]); return v ? [v] : []; }
    const split = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(w.word);
    if (split) { const v = env.get(split[1]); return v ? words(v.word).map((word) => ({ word, file: v.file })) : []; }
    return [w];
  });
}

/** Each `--name` value on a traced command line, in order, with the file that set it. */
export function tracedFlagValues(line: readonly TracedWord[], name: string): TracedWord[] {
  const out: TracedWord[] = [];
  line.forEach((w, i) => {
    if (w.word.startsWith(`--${name}=`)) out.push({ word: w.word.slice(name.length + 3), file: w.file });
    else if (w.word === `--${name}` && i + 1 < line.length) out.push({ word: line[i + 1].word, file: w.file });
  });
  return out;
}
