/**
 * Call outcomes of a whole service, seen once at the server's edge: every method of an implementation is
 * wrapped so that an observer hears the status code each call ended with and how long it took. Unary calls
 * end when their callback runs; streams end when their status is sent or the stream closes. A client that
 * cancels ends the call as CANCELLED, whatever the handler does afterwards. The observer is a plain
 * function, so this file knows no metrics library and no component.
 */
import * as grpc from '@grpc/grpc-js';

export interface CallOutcome {
  /** The fully qualified service, e.g. `runtime.v1.RuntimeService`. */
  service: string;
  method: string;
  code: grpc.status;
  seconds: number;
}

export type CallObserver = (outcome: CallOutcome) => void;

// Every server call type is an EventEmitter with at least what a unary one has.
type AnyHandler = (call: grpc.ServerUnaryCall<unknown, unknown>, callback?: grpc.sendUnaryData<unknown>) => void;

/** `/runtime.v1.RuntimeService/Version` → service and method. */
export function splitMethodPath(p: string): { service: string; method: string } {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(p);
  return m ? { service: m[1], method: m[2] } : { service: '', method: p };
}

/** The code grpc-js sends for an error a handler passes on (anything without a numeric code is UNKNOWN). */
function codeOf(err: unknown): grpc.status {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' && Number.isInteger(code) ? code : grpc.status.UNKNOWN;
}

/** A recorder that reports one outcome per call, the first it is told. */
function oneOutcome(names: { service: string; method: string }, observer: CallObserver): (code: grpc.status) => void {
  const start = process.hrtime.bigint();
  let done = false;
  return (code) => {
    if (done) return;
    done = true;
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    try {
      observer({ ...names, code, seconds });
    } catch {
      // Observing must never break the call it observes.
    }
  };
}

function observedCallback(fn: AnyHandler, names: { service: string; method: string }, observer: CallObserver): AnyHandler {
  return (call, callback) => {
    const end = oneOutcome(names, observer);
    call.once('cancelled', () => end(grpc.status.CANCELLED));
    fn(call, (err, value, trailer, flags) => {
      end(err ? codeOf(err) : grpc.status.OK);
      callback!(err, value, trailer, flags);
    });
  };
}

function observedStream(fn: AnyHandler, names: { service: string; method: string }, observer: CallObserver): AnyHandler {
  return (call) => {
    const end = oneOutcome(names, observer);
    // grpc-js turns an 'error' on a server stream into the status it sends (failStream relies on that).
    let code: grpc.status = grpc.status.OK;
    call.on('error', (err: unknown) => { code = codeOf(err); });
    call.once('cancelled', () => end(grpc.status.CANCELLED));
    call.once('finish', () => end(code));
    call.once('close', () => end(code));
    fn(call);
  };
}

/**
 * `impl` with every method of `def` it implements reporting to `observer`. Methods are found by their
 * name in `def` or their original (proto) name, as grpc-js looks them up.
 */
export function observeService(def: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation, observer: CallObserver): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = { ...impl };
  for (const [name, attrs] of Object.entries(def)) {
    const key = impl[name] !== undefined ? name : attrs.originalName !== undefined && impl[attrs.originalName] !== undefined ? attrs.originalName : undefined;
    if (key === undefined) continue;
    const fn = impl[key] as unknown as AnyHandler;
    const names = splitMethodPath(attrs.path);
    const wrapped = attrs.responseStream ? observedStream(fn, names, observer) : observedCallback(fn, names, observer);
    out[key] = wrapped as unknown as grpc.UntypedHandleCall;
  }
  return out;
}
