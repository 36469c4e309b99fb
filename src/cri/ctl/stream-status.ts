/**
 * How a remote command ended, from what its error stream (SPDY) or channel 3 (WebSocket) carried: from v4 on
 * a JSON metav1.Status (a non-zero exit is reason NonZeroExitCode with an ExitCode cause), before v4 a
 * failure's text only. Read as client-go's errorDecoderV4 reads it.
 */
import { BerthError } from '../../common/errors';

interface Status {
  status?: string;
  message?: string;
  reason?: string;
  details?: { causes?: Array<{ reason?: string; message?: string }> };
}

/** Protocols whose error stream carries a JSON status. */
export const jsonStatusProtocol = (protocol: string): boolean => protocol === 'v4.channel.k8s.io' || protocol === 'v5.channel.k8s.io';

/** The command's exit code (0 when the error stream said nothing); a failure that is not an exit code throws. */
export function exitCodeFromStatus(bytes: Buffer, json: boolean): number {
  if (bytes.length === 0) return 0;
  const text = bytes.toString('utf8');
  if (!json) throw new BerthError('Internal', text);
  let status: Status;
  try {
    status = JSON.parse(text) as Status;
  } catch (err) {
    throw new BerthError('Internal', `error stream protocol error: ${(err as Error).message} in ${JSON.stringify(text)}`);
  }
  if (status.status === 'Success') return 0;
  if (status.status !== 'Failure') throw new BerthError('Internal', 'error stream protocol error: unknown error');
  if (status.reason !== 'NonZeroExitCode') throw new BerthError('Internal', status.message ?? 'the command failed');
  const cause = (status.details?.causes ?? []).find((c) => c.reason === 'ExitCode');
  if (!cause) throw new BerthError('Internal', 'error stream protocol error: no ExitCode cause given');
  const code = /^\d{1,3}$/.test(cause.message ?? '') ? Number(cause.message) : NaN;
  if (!(code <= 255)) throw new BerthError('Internal', `error stream protocol error: invalid exit code value ${JSON.stringify(cause.message)}`);
  return code;
}
