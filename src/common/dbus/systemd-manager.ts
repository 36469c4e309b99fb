/**
 * A client of systemd's Manager (org.freedesktop.systemd1) over the D-Bus connection beside it: where systemd
 * is reached (its private socket, then the system bus), errors as BerthErrors, and jobs waited for until their
 * JobRemoved signal. Shared by the systemd cgroup driver (src/oci) and berth-agent's host services.
 */
import { BerthError, type ErrorKind } from '../errors';
import { Connection, DBusError } from './connection';
import { Variant } from './marshal';
import type { Message } from './message';

export const SYSTEMD_NAME = 'org.freedesktop.systemd1';
export const SYSTEMD_PATH = '/org/freedesktop/systemd1';
export const MANAGER = 'org.freedesktop.systemd1.Manager';

export interface SystemdEndpoint {
  /** Socket path or D-Bus address ("unix:path=…"). */
  address: string;
  /** 'peer' for systemd's private socket (no bus daemon), 'bus' for a message bus. */
  kind: 'bus' | 'peer';
}

/** The system bus as libdbus and godbus find it: $DBUS_SYSTEM_BUS_ADDRESS when set, else the well-known socket. */
export function systemBusAddress(env: NodeJS.ProcessEnv = process.env): string {
  return env.DBUS_SYSTEM_BUS_ADDRESS || '/run/dbus/system_bus_socket';
}

/**
 * Like go-systemd's dbus.NewWithContext, which runc uses as root: systemd's private socket first, then the
 * system bus (read at each connect, so that a daemon's environment decides, as it does for runc).
 */
export function defaultEndpoints(env: NodeJS.ProcessEnv = process.env): SystemdEndpoint[] {
  return [
    { address: '/run/systemd/private', kind: 'peer' },
    { address: systemBusAddress(env), kind: 'bus' },
  ];
}

const ERROR_KINDS: Record<string, ErrorKind> = {
  'org.freedesktop.systemd1.NoSuchUnit': 'NotFound',
  'org.freedesktop.systemd1.UnitExists': 'AlreadyExists',
  'org.freedesktop.DBus.Error.AccessDenied': 'PermissionDenied',
  'org.freedesktop.DBus.Error.AuthFailed': 'PermissionDenied',
  'org.freedesktop.DBus.Error.InvalidArgs': 'InvalidArgument',
  'org.freedesktop.DBus.Error.ServiceUnknown': 'Unavailable',
  'org.freedesktop.DBus.Error.NameHasNoOwner': 'Unavailable',
  'org.freedesktop.DBus.Error.NoReply': 'DeadlineExceeded',
  'org.freedesktop.DBus.Error.Timeout': 'DeadlineExceeded',
  'org.freedesktop.DBus.Error.Disconnected': 'Unavailable',
};

/** A D-Bus failure as a BerthError naming the operation, e.g. `systemd StartTransientUnit("x.scope"): …`. */
export function systemdError(what: string, err: unknown): BerthError {
  if (err instanceof BerthError) return err;
  if (err instanceof DBusError) return new BerthError(ERROR_KINDS[err.errorName] ?? 'FailedPrecondition', `systemd ${what}: ${err.message}`, { cause: err });
  const code = (err as { code?: unknown } | undefined)?.code;
  return new BerthError('Unavailable', `systemd ${what}: ${typeof code === 'string' ? code : String(err)}`, { cause: err });
}

/** Connects to the first endpoint that accepts; Unavailable naming every endpoint tried otherwise. */
export async function connectSystemd(endpoints: readonly SystemdEndpoint[] = defaultEndpoints()): Promise<Connection> {
  const failures: string[] = [];
  for (const ep of endpoints) {
    try {
      return await Connection.connect({ address: ep.address, kind: ep.kind });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      // Any failure moves on to the next endpoint, as go-systemd does from the private socket to the bus.
      failures.push(`${ep.address}: ${typeof code === 'string' ? code : err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new BerthError('Unavailable', `cannot reach systemd over D-Bus (${failures.join('; ')}); is systemd running?`);
}

const JOB_REMOVED_MATCH = `type='signal',sender='${SYSTEMD_NAME}',path='${SYSTEMD_PATH}',interface='${MANAGER}',member='JobRemoved'`;

/**
 * Calls a Manager method that queues a job (returns its object path) and waits for the job's JobRemoved signal
 * (uoss: id, job, unit, result). Signals are collected from before the call, so a fast job cannot be missed.
 */
export async function runJob(conn: Connection, member: string, signature: string, body: Parameters<Connection['call']>[0]['body'], timeoutMs: number): Promise<{ job: string; result: string }> {
  const results = new Map<string, string>();
  let wake: (() => void) | undefined;
  // On a bus anyone may emit a signal: only systemd's own count (its unique name owns org.freedesktop.systemd1).
  const owner =
    conn.kind === 'bus'
      ? String(
          (
            await conn.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'GetNameOwner', signature: 's', body: [SYSTEMD_NAME] }).catch((err) => {
              throw systemdError(member, err);
            })
          ).body?.[0],
        )
      : undefined;
  const off = conn.onSignal((m: Message) => {
    if (m.interface !== MANAGER || m.member !== 'JobRemoved' || m.signature !== 'uoss' || m.path !== SYSTEMD_PATH) return;
    if (owner !== undefined && m.sender !== owner) return;
    results.set(String(m.body?.[1]), String(m.body?.[3]));
    wake?.();
  });
  try {
    await conn.addMatch(JOB_REMOVED_MATCH);
    const reply = await conn.call({ destination: SYSTEMD_NAME, path: SYSTEMD_PATH, interface: MANAGER, member, signature, body });
    const job = reply.body?.[0];
    if (reply.signature !== 'o' || typeof job !== 'string') throw new BerthError('Internal', `systemd ${member} replied with signature ${JSON.stringify(reply.signature ?? '')}, expected "o"`);
    const deadline = Date.now() + timeoutMs;
    while (!results.has(job)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new BerthError('DeadlineExceeded', `systemd ${member}: job ${job} did not finish within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
    return { job, result: results.get(job) as string };
  } finally {
    off();
    if (conn.kind === 'bus') {
      await conn.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'RemoveMatch', signature: 's', body: [JOB_REMOVED_MATCH] }).catch(() => undefined);
    }
  }
}

/** systemd's major version from Manager.Version ("252.33-1~deb12u1", "v256"); -1 when unknown (as runc). */
export async function systemdVersion(conn: Connection): Promise<number> {
  try {
    const r = await conn.call({ destination: SYSTEMD_NAME, path: SYSTEMD_PATH, interface: 'org.freedesktop.DBus.Properties', member: 'Get', signature: 'ss', body: [MANAGER, 'Version'] });
    const v = r.body?.[0];
    const m = v instanceof Variant && typeof v.value === 'string' ? /^v?(\d+)/.exec(v.value.trim()) : null;
    return m ? Number(m[1]) : -1;
  } catch {
    return -1;
  }
}
