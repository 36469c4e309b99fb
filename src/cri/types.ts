/**
 * The CRI messages berthd and berthctl handle, as @grpc/proto-loader presents them with the options in
 * proto/load.ts: camelCase field names, 64-bit integers as decimal strings, enums as their names, absent
 * scalars as their defaults and absent messages as null. These are exactly the shapes crictl prints with
 * `-o json`, so berthctl prints them as they are.
 */

/** A uint64 or int64 as proto-loader gives it (`longs: String`). */
export type Int64 = string;

export interface ImageSpec {
  image: string;
  annotations: Record<string, string>;
  userSpecifiedImage: string;
  runtimeHandler: string;
}

export interface Image {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: Int64;
  uid: { value: Int64 } | null;
  username: string;
  spec: ImageSpec | null;
  pinned: boolean;
  imageSource: string;
}

export interface AuthConfig {
  username: string;
  password: string;
  auth: string;
  serverAddress: string;
  identityToken: string;
  registryToken: string;
}

export interface ListImagesRequest { filter: { image: ImageSpec | null } | null }
export interface ListImagesResponse { images: Image[] }
export interface ImageStatusRequest { image: ImageSpec | null; verbose: boolean }
export interface ImageStatusResponse { image: Image | null; info: Record<string, string> }
export interface PullImageRequest { image: ImageSpec | null; auth: AuthConfig | null; sandboxConfig: unknown }
export interface PullImageResponse { imageRef: string }
export interface RemoveImageRequest { image: ImageSpec | null }
export type RemoveImageResponse = Record<string, never>;
export type ImageFsInfoRequest = Record<string, never>;

export interface FilesystemUsage {
  timestamp: Int64;
  fsId: { mountpoint: string } | null;
  usedBytes: { value: Int64 } | null;
  inodesUsed: { value: Int64 } | null;
}
export interface ImageFsInfoResponse { imageFilesystems: FilesystemUsage[]; containerFilesystems: FilesystemUsage[] }

export interface VersionRequest { version: string }
export interface VersionResponse { version: string; runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }

/** berth.v1.PullProgress (proto/berth.proto): progress of the pulls a client tagged with a pull id. */
export interface WatchPullRequest { pullId: string }
export interface PullProgressEvent {
  digest: string;
  kind: string;
  bytes: Int64;
  size: Int64;
  phase: string;
}

/** The gRPC metadata key that ties a PullImage call to a PullProgress.Watch stream. */
export const PULL_ID_METADATA = 'berth-pull-id';
