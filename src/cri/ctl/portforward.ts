/**
 * `berthctl port-forward POD [LOCAL:]REMOTE ...`, as crictl's: the PortForward RPC, then listeners on
 * 127.0.0.1 until SIGINT or SIGTERM. Over WebSocket each connection needs a URL of its own (the kubelet's
 * protocol carries one connection per port per session, and a URL is good for one use within a minute).
 */
import { invalid } from '../../common/errors';
import { within, type CriClient } from './client';
import { HELP_FLAG, type Command } from './command';
import { STREAMING_FLAGS, streamingUrl, transportOf } from './stream-dial';
import { forwardPorts, parsePortSpecs } from './stream-portforward';

/** Under a minute, berthd's token lifetime: an older first URL is not tried, a new one asked for. */
const URL_FRESH_MS = 30_000;

async function portForwardUrl(client: CriClient, podSandboxId: string, ports: number[]): Promise<URL> {
  const res = await client.runtimeCall<unknown, { url: string }>('PortForward', { podSandboxId, port: ports });
  return streamingUrl(res.url);
}

export const portForwardCommand: Command = {
  name: 'port-forward',
  service: 'runtime',
  usage: 'berthctl port-forward [OPTIONS] POD-ID [LOCAL_PORT:]REMOTE_PORT...',
  summary: 'Forward local port to a pod (on 127.0.0.1; LOCAL_PORT 0 or empty: a free one; over websocket a client\'s half-close is not passed on)',
  flags: [...STREAMING_FLAGS, HELP_FLAG],
  async run({ client, args, stdout, stderr }) {
    const [id, ...specs] = args.positional;
    if (!id) throw invalid('POD-ID', 'ID cannot be empty');
    if (specs.length === 0) throw invalid('REMOTE_PORT', 'port-forward takes a pod id and at least one [LOCAL_PORT:]REMOTE_PORT');
    return within('port forward', (async () => {
      const transport = transportOf(args);
      const ports = parsePortSpecs(specs);
      const first = { url: await portForwardUrl(client, id, ports.map((p) => p.remote)), at: Date.now(), used: false };
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        await forwardPorts({
          transport,
          ports,
          url: first.url,
          // Each WebSocket forwards one port: the URL is asked for that one.
          nextUrl: async (remote) => {
            if (!first.used && Date.now() - first.at < URL_FRESH_MS && ports.length === 1) {
              first.used = true;
              return first.url;
            }
            first.used = true;
            return portForwardUrl(client, id, [remote]);
          },
          out: (line) => stdout(line),
          err: (line) => stderr(line),
          signal: stop.signal,
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      return 0;
    })());
  },
};
