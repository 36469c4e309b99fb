/**
 * berthd's metrics endpoint as one thing to start and stop: the HTTP server on the configured loopback address
 * and `<state>/metrics.addr` naming where it is bound (port 0 picks a free one, so readers need the file).
 */
import * as path from 'node:path';
import { BerthError } from '../../common/errors';
import type { Logger } from '../../common/log';
import { removeAddrFile, writeAddrFile } from './addr-file';
import { serveMetricsHttp } from './http';
import type { BerthdMetrics } from './registry';

export interface MetricsEndpoint {
  readonly address: string;
  close(): Promise<void>;
}

export async function startMetricsEndpoint(o: { metrics: BerthdMetrics; address: string; addrFile: string; log: Logger }): Promise<MetricsEndpoint> {
  const server = await serveMetricsHttp(o.address, () => o.metrics.expose(), o.log).catch((err: unknown) => {
    throw new BerthError('Unavailable', `metricsAddress: cannot listen on ${o.address}: ${(err as Error).message}`, { cause: err });
  });
  try {
    writeAddrFile(o.addrFile, server.address);
  } catch (err) {
    await server.close();
    throw new BerthError('Internal', `cannot write ${path.basename(o.addrFile)}: ${(err as Error).message}`, { cause: err });
  }
  o.log.info('serving metrics', { address: server.address, addrFile: o.addrFile });
  return {
    address: server.address,
    close: async () => {
      removeAddrFile(o.addrFile);
      await server.close();
    },
  };
}
