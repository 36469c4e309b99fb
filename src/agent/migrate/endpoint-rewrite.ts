/**
 * The switch's edit of kubelet's files, as pure text → text: every place endpoint.ts found is pointed at the new
 * endpoint, in the form it already has (a `--container-runtime-endpoint` flag keeps its spelling and quotes; a
 * `containerRuntimeEndpoint:` line keeps its indentation and comments), so that the file still reads as its
 * owner wrote it and a rollback that restores the old bytes is the only other change a file ever sees.
 * The running kubelet's command line is not a file to edit: it changes when kubelet restarts.
 */
import { BerthError } from '../../common/errors';
import { parse } from 'yaml';
import { ENDPOINT_FIELD, ENDPOINT_FLAG, lastFlag, type EndpointSetting, type KubeletEndpoint } from './endpoint';

/** Every `--container-runtime-endpoint` flag in `text` set to `endpoint`, quotes kept. */
export function rewriteFlag(text: string, endpoint: string): string {
  const re = new RegExp(`(--${ENDPOINT_FLAG}(?:=|[ \\t]+))("[^"\\n]*"|'[^'\\n]*'|[^\\s"'\\\\]+)`, 'g');
  return text.replace(re, (_all, prefix: string, value: string) => {
    const quote = value.startsWith('"') || value.startsWith("'") ? value[0] : '';
    return `${prefix}${quote}${endpoint}${quote}`;
  });
}

/** The top-level `containerRuntimeEndpoint:` of a KubeletConfiguration set to `endpoint` (added when absent). */
export function rewriteField(text: string, endpoint: string): string {
  const line = new RegExp(`^(${ENDPOINT_FIELD}:[ \\t]*)(?:"[^"\\n]*"|'[^'\\n]*'|[^\\s#]*)([ \\t]*(?:#.*)?)$`, 'm');
  if (line.test(text)) return text.replace(line, (_all, key: string, rest: string) => `${key}${endpoint}${rest}`);
  return `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${ENDPOINT_FIELD}: ${endpoint}\n`;
}

export interface FileEdit {
  readonly file: string;
  readonly before: string;
  readonly after: string;
  /** What the edit is, for the NodeMigration's backups list. */
  readonly what: string;
}

/**
 * The edits that make kubelet take `endpoint` on its next start: every file that sets the endpoint now, or, when
 * none does (kubelet's default applies), the `--config` file gets the field. Refuses, naming the file, when a
 * file could not be parsed, or when the result would not read back as `endpoint`.
 */
export function endpointEdits(located: KubeletEndpoint, texts: ReadonlyMap<string, string>, endpoint: string, configFile: string | undefined): FileEdit[] {
  if (located.problems.length) throw new BerthError('FailedPrecondition', `kubelet's configuration cannot be rewritten safely: ${located.problems.join('; ')}`);
  const settings = located.settings.filter((s) => s.kind !== 'command-line');
  const edits = new Map<string, FileEdit>();
  const edit = (s: Pick<EndpointSetting, 'file' | 'form' | 'kind'>): void => {
    const before = edits.get(s.file)?.after ?? texts.get(s.file);
    if (before === undefined) throw new BerthError('NotFound', `${s.file}: not readable, though it sets kubelet's endpoint`, { field: s.file });
    const after = s.form === 'flag' ? rewriteFlag(before, endpoint) : rewriteField(before, endpoint);
    const reads = s.form === 'flag' ? lastFlag(after) : (parse(after) as Record<string, unknown> | null)?.[ENDPOINT_FIELD];
    if (reads !== endpoint) throw new BerthError('Internal', `${s.file}: the rewrite would read ${JSON.stringify(reads)}, not ${endpoint}`, { field: s.file });
    edits.set(s.file, { file: s.file, before: texts.get(s.file)!, after, what: `kubelet's runtime endpoint (${s.kind})` });
  };
  for (const s of settings) edit(s);
  if (settings.length === 0) {
    if (!configFile) throw new BerthError('FailedPrecondition', 'nothing sets kubelet\'s runtime endpoint and kubelet has no --config file to set it in', { field: 'containerRuntimeEndpoint' });
    edit({ file: configFile, form: 'field', kind: 'kubelet-config' });
  }
  return [...edits.values()].filter((e) => e.after !== e.before);
}
