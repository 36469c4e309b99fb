/**
 * The CRI messages berthd and berthctl handle, as @grpc/proto-loader presents them with the options of
 * common/grpc/proto.ts: camelCase field names, 64-bit integers as decimal strings, enums as their names, absent
 * scalars as their defaults and absent messages as null. These are exactly the shapes crictl prints with
 * `-o json`, so berthctl prints them as they are. The types are generated from the .proto files
 * (hack/gen-proto-types → proto/gen/); this module names the decoded (`__Output`) forms the rest of src/cri uses.
 */
export type { AuthConfig__Output as AuthConfig } from './proto/gen/runtime/v1/AuthConfig';
export type { FilesystemUsage__Output as FilesystemUsage } from './proto/gen/runtime/v1/FilesystemUsage';
export type { Image__Output as Image } from './proto/gen/runtime/v1/Image';
export type { ImageFsInfoRequest__Output as ImageFsInfoRequest } from './proto/gen/runtime/v1/ImageFsInfoRequest';
export type { ImageFsInfoResponse__Output as ImageFsInfoResponse } from './proto/gen/runtime/v1/ImageFsInfoResponse';
export type { ImageSpec__Output as ImageSpec } from './proto/gen/runtime/v1/ImageSpec';
export type { ImageStatusRequest__Output as ImageStatusRequest } from './proto/gen/runtime/v1/ImageStatusRequest';
export type { ImageStatusResponse__Output as ImageStatusResponse } from './proto/gen/runtime/v1/ImageStatusResponse';
export type { ListImagesRequest__Output as ListImagesRequest } from './proto/gen/runtime/v1/ListImagesRequest';
export type { ListImagesResponse__Output as ListImagesResponse } from './proto/gen/runtime/v1/ListImagesResponse';
export type { PullImageRequest__Output as PullImageRequest } from './proto/gen/runtime/v1/PullImageRequest';
export type { PullImageResponse__Output as PullImageResponse } from './proto/gen/runtime/v1/PullImageResponse';
export type { RemoveImageRequest__Output as RemoveImageRequest } from './proto/gen/runtime/v1/RemoveImageRequest';
export type { RemoveImageResponse__Output as RemoveImageResponse } from './proto/gen/runtime/v1/RemoveImageResponse';
export type { VersionRequest__Output as VersionRequest } from './proto/gen/runtime/v1/VersionRequest';
export type { VersionResponse__Output as VersionResponse } from './proto/gen/runtime/v1/VersionResponse';
/** berth.v1.PullProgress (proto/berth.proto): progress of the pulls a client tagged with a pull id. */
export type { PullProgressEvent__Output as PullProgressEvent } from './proto/gen/berth/v1/PullProgressEvent';
export type { WatchPullRequest__Output as WatchPullRequest } from './proto/gen/berth/v1/WatchPullRequest';

/** A uint64 or int64 as proto-loader gives it (`longs: String`). */
export type Int64 = string;

/** The gRPC metadata key that ties a PullImage call to a PullProgress.Watch stream. */
export const PULL_ID_METADATA = 'berth-pull-id';
