/** The gRPC toolkit berthd, berth-shim and berthctl share. */
export { elapsedMs, failStream, unary, type UnaryHandler } from './handlers';
export { listenUnix, type UnixListener } from './listen';
export { observeService, splitMethodPath, type CallObserver, type CallOutcome } from './observe';
export { LOADER_OPTIONS, loadPackage } from './proto';
export { fromServiceError, grpcCodeName, grpcCodeOf, kindOfGrpcCode, toServiceError } from './status';
