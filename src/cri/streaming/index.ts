/**
 * berthd's streaming server (exec, attach, port-forward for the CRI): the face the RuntimeService uses.
 * One concern per file: server (HTTP, tokens, upgrades), the SPDY/3.1 framer and session, the WebSocket
 * channels, remote command and port forward over each, and the shim-based backend.
 */
export { StreamingServer, type StreamingServerOptions, type StreamKind } from './server';
export {
  ShimStreamingBackend, type AttachStreamRequest, type ExecStreamRequest, type PortForwardStreamRequest, type ShimStreamingBackendOptions,
  type StreamingBackend, type StreamIo, type TerminalSize,
} from './backend';
