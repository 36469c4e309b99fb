import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { PullProgressClient as _berth_v1_PullProgressClient, PullProgressDefinition as _berth_v1_PullProgressDefinition } from './berth/v1/PullProgress';
import type { PullProgressEvent as _berth_v1_PullProgressEvent, PullProgressEvent__Output as _berth_v1_PullProgressEvent__Output } from './berth/v1/PullProgressEvent';
import type { WatchPullRequest as _berth_v1_WatchPullRequest, WatchPullRequest__Output as _berth_v1_WatchPullRequest__Output } from './berth/v1/WatchPullRequest';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  berth: {
    v1: {
      PullProgress: SubtypeConstructor<typeof grpc.Client, _berth_v1_PullProgressClient> & { service: _berth_v1_PullProgressDefinition }
      PullProgressEvent: MessageTypeDefinition<_berth_v1_PullProgressEvent, _berth_v1_PullProgressEvent__Output>
      WatchPullRequest: MessageTypeDefinition<_berth_v1_WatchPullRequest, _berth_v1_WatchPullRequest__Output>
    }
  }
}

