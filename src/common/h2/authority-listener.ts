/**
 * Accepting HTTP/2 connections for a server that validates `:authority` (Node's), from clients that send a
 * unix socket's path there: crictl and critest before 1.31's cri-client, kubelets 1.24–1.30, grpc-java.
 *
 * Every connection reaches the server through a ClientFrames filter. The server must have the socket from the
 * start (clients wait for its SETTINGS before their first request), so the filter cannot be decided on first.
 * When the first header block needs no change (kubelet 1.31+, grpc-js, grpc-go's "localhost"), the filter
 * stops parsing and only forwards.
 */
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { ClientFrames } from './client-frames';

export interface AuthorityListenerOptions {
  /** Gives a connection to the HTTP/2 server (e.g. grpc-js' ConnectionInjector.injectConnection). */
  inject: (connection: Duplex) => void;
  /** Told once per connection whose authorities are rewritten, with the first one the client sent. */
  onRewrite?: (authority: string) => void;
}

/** The client side of a connection whose header blocks go through ClientFrames; the server side as is. */
class FilteredSocket extends Duplex {
  constructor(private readonly socket: Socket, private readonly frames: ClientFrames) {
    super({ allowHalfOpen: true });
    socket.on('data', (chunk: Buffer) => this.forward(chunk));
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  private forward(chunk: Buffer): void {
    let out: Buffer[];
    try {
      out = this.frames.push(chunk);
    } catch (err) {
      this.destroy(err as Error); // not HTTP/2 as the server would take it: the connection ends
      return;
    }
    let more = true;
    for (const b of out) more = this.push(b) && more;
    if (!more) this.socket.pause();
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.socket.write(chunk, done);
  }

  override _final(done: (err?: Error | null) => void): void {
    this.socket.end(done);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.socket.destroy();
    done(err);
  }
}

/** The connection handler for a net.Server in front of the HTTP/2 server. */
export function authorityFixingConnectionHandler(options: AuthorityListenerOptions): (socket: Socket) => void {
  return (socket) => {
    let told = false;
    const frames = new ClientFrames({
      stopAfterValidFirstBlock: true,
      onBlock: (b) => {
        if (b.changed && !told) {
          told = true;
          options.onRewrite?.(b.authorities[0] ?? '');
        }
      },
    });
    options.inject(new FilteredSocket(socket, frames));
  };
}
