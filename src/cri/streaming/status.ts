/**
 * What the error stream carries when a remote command ends (k8s.io/client-go/tools/remotecommand reads it):
 * from v4 on a JSON metav1.Status, Success or Failure (a non-zero exit as reason NonZeroExitCode with the code
 * in an ExitCode cause, so kubectl exits with it); before v4 only a failure's message, as plain text.
 */
export interface StreamStatus {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes: Array<{ reason: string; message: string }> };
  code?: number;
}

export function successStatus(): StreamStatus {
  return { metadata: {}, status: 'Success' };
}

export function exitCodeStatus(code: number): StreamStatus {
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: exit status ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

export function internalErrorStatus(message: string): StreamStatus {
  return { metadata: {}, status: 'Failure', message: `Internal error occurred: ${message}`, reason: 'InternalError', code: 500 };
}

/** The error stream's bytes for a protocol: v4 and v5 JSON always; older ones the message of a failure only. */
export function encodeStatus(status: StreamStatus, json: boolean): Buffer | undefined {
  if (json) return Buffer.from(JSON.stringify(status));
  return status.status === 'Success' ? undefined : Buffer.from(status.message ?? 'failure');
}
