/** `berthctl images`, `inspecti`, `rmi`: crictl's image commands. */
import { BerthError, invalid } from '../../common/errors';
import { flagBool } from '../../common/args';
import type { Image, ImageStatusResponse, ListImagesResponse } from '../types';
import { HELP_FLAG, outputFlag, outputFormat, type Command } from './command';
import { humanSize, json, parsedInfo, table, truncatedId } from './format';

const NONE = '<none>';

/** crictl's order: by first tag, else first digest, else id. */
function byRef(a: Image, b: Image): number {
  const key = (x: Image, y: Image) =>
    x.repoTags.length && y.repoTags.length ? [x.repoTags[0], y.repoTags[0]] : x.repoDigests.length && y.repoDigests.length ? [x.repoDigests[0], y.repoDigests[0]] : [x.id, y.id];
  const [l, r] = key(a, b);
  return l < r ? -1 : l > r ? 1 : 0;
}

function repoDigest(image: Image): [string, string] {
  const d = image.repoDigests[0];
  if (!d) return [NONE, NONE];
  const at = d.indexOf('@');
  return at < 0 ? [NONE, NONE] : [d.slice(0, at), d.slice(at + 1)];
}

/** One [repo, tag] per tag; an untagged image shows its repository from its digest and tag <none>. */
function repoTags(image: Image): Array<[string, string]> {
  const [repoFromDigest] = repoDigest(image);
  if (image.repoTags.length === 0) return [[repoFromDigest, NONE]];
  return image.repoTags.map((t) => {
    const i = t.lastIndexOf(':');
    return i < 0 ? [t, NONE] : [t.slice(0, i), t.slice(i + 1)];
  });
}

export const imagesCommand: Command = {
  name: 'images',
  service: 'image',
  aliases: ['image', 'img'],
  usage: 'berthctl images [OPTIONS] [REPOSITORY[:TAG]]',
  summary: 'List images',
  flags: [
    { name: 'quiet', short: 'q', kind: 'bool', help: 'only show image IDs' },
    { name: 'digests', kind: 'bool', help: 'show digests' },
    { name: 'no-trunc', kind: 'bool', help: 'show output without truncating the ID' },
    outputFlag('table', ['json', 'table']),
    HELP_FLAG,
  ],
  async run({ client, args, stdout }) {
    if (args.positional.length > 1) throw invalid(args.positional[1], 'images takes at most one reference');
    const format = outputFormat(args, 'table', ['json', 'table']);
    const filter = args.positional[0];
    const res = await client.imageCall<unknown, ListImagesResponse>('ListImages', { filter: filter ? { image: { image: filter } } : null });
    const images = [...res.images].sort(byRef);
    if (format === 'json') {
      stdout(json({ images }));
      return 0;
    }
    if (flagBool(args, 'quiet')) {
      for (const i of images) stdout(`${i.id}\n`);
      return 0;
    }
    const digests = flagBool(args, 'digests');
    const noTrunc = flagBool(args, 'no-trunc');
    const rows: string[][] = [digests ? ['IMAGE', 'TAG', 'DIGEST', 'IMAGE ID', 'SIZE'] : ['IMAGE', 'TAG', 'IMAGE ID', 'SIZE']];
    for (const image of images) {
      const id = noTrunc ? image.id : truncatedId(image.id);
      const size = humanSize(Number(image.size));
      const [, digest] = repoDigest(image);
      for (const [repo, tag] of repoTags(image)) {
        rows.push(digests ? [repo, tag, digest === NONE || noTrunc ? digest : truncatedId(digest), id, size] : [repo, tag, id, size]);
      }
    }
    stdout(table(rows));
    return 0;
  },
};

export const inspectiCommand: Command = {
  name: 'inspecti',
  service: 'image',
  usage: 'berthctl inspecti [OPTIONS] IMAGE-ID|REFERENCE [...]',
  summary: 'Return the status of one or more images',
  flags: [outputFlag('json', ['json', 'table']), HELP_FLAG],
  async run({ client, args, stdout }) {
    if (args.positional.length === 0) throw invalid('IMAGE', 'an image reference or ID is required');
    const format = outputFormat(args, 'json', ['json', 'table']);
    for (const ref of args.positional) {
      const res = await client.imageCall<unknown, ImageStatusResponse>('ImageStatus', { image: { image: ref }, verbose: true });
      if (!res.image) throw new BerthError('NotFound', `no such image "${ref}" present`);
      if (format === 'json') {
        const out: Record<string, unknown> = { status: res.image };
        if (Object.keys(res.info).length > 0) out.info = parsedInfo(res.info);
        stdout(json(out));
      } else {
        const i = res.image;
        stdout(`ID: ${i.id}\n${i.repoTags.map((t) => `Tag: ${t}\n`).join('')}${i.repoDigests.map((d) => `Digest: ${d}\n`).join('')}Size: ${i.size}\n`);
      }
    }
    return 0;
  },
};

export const rmiCommand: Command = {
  name: 'rmi',
  service: 'image',
  usage: 'berthctl rmi [OPTIONS] IMAGE-ID|REFERENCE [...]',
  summary: 'Remove one or more images',
  flags: [{ name: 'all', short: 'a', kind: 'bool', help: 'remove all images' }, HELP_FLAG],
  async run({ client, args, stdout, stderr }) {
    let refs = args.positional;
    if (flagBool(args, 'all')) {
      if (refs.length > 0) throw invalid('--all', 'takes no image arguments');
      refs = (await client.imageCall<unknown, ListImagesResponse>('ListImages', { filter: null })).images.map((i) => i.id);
    } else if (refs.length === 0) throw invalid('IMAGE', 'at least one image reference or ID is required (or --all)');
    let failed = false;
    for (const ref of refs) {
      // As crictl: resolve the reference first, so that a typo is an error rather than a silent no-op.
      try {
        const st = await client.imageCall<unknown, ImageStatusResponse>('ImageStatus', { image: { image: ref }, verbose: false });
        if (!st.image) throw new BerthError('NotFound', `no such image ${ref}`);
        await client.imageCall('RemoveImage', { image: { image: st.image.id } });
        const names = st.image.repoTags.length > 0 ? st.image.repoTags : [st.image.id];
        for (const n of names) stdout(`Deleted: ${n}\n`);
      } catch (err) {
        failed = true;
        stderr(`berthctl: error of removing image "${ref}": ${(err as Error).message}\n`);
      }
    }
    return failed ? 1 : 0;
  },
};
