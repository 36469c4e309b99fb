/** Requests as RBAC sees them: the kinds the agent counts and logs, compared with the chart's rules in the e2e. */
import { expect, test } from '@jest/globals';
import { requestKind } from '../../src/agent/kube/request-kind';

test.each([
  ['GET', '/api/v1/nodes/n1', false, { verb: 'get', group: '', resource: 'nodes' }],
  ['GET', '/api/v1/nodes?labelSelector=x', false, { verb: 'list', group: '', resource: 'nodes' }],
  ['GET', '/api/v1/pods', true, { verb: 'watch', group: '', resource: 'pods' }],
  ['GET', '/api/v1/namespaces/ns/pods', false, { verb: 'list', group: '', resource: 'pods' }],
  ['GET', '/api/v1/namespaces/ns', false, { verb: 'get', group: '', resource: 'namespaces' }],
  ['GET', '/api/v1/namespaces', false, { verb: 'list', group: '', resource: 'namespaces' }],
  ['PATCH', '/apis/berth.dev/v1alpha1/runtimehandlers/x/status', false, { verb: 'patch', group: 'berth.dev', resource: 'runtimehandlers/status' }],
  ['POST', '/apis/berth.dev/v1alpha1/berthnodes', false, { verb: 'create', group: 'berth.dev', resource: 'berthnodes' }],
  ['PUT', '/apis/coordination.k8s.io/v1/namespaces/berth-system/leases/l', false, { verb: 'update', group: 'coordination.k8s.io', resource: 'leases' }],
  ['DELETE', '/apis/node.k8s.io/v1/runtimeclasses/rc', false, { verb: 'delete', group: 'node.k8s.io', resource: 'runtimeclasses' }],
  ['DELETE', '/apis/node.k8s.io/v1/runtimeclasses', false, { verb: 'deletecollection', group: 'node.k8s.io', resource: 'runtimeclasses' }],
])('%s %s (watch %s)', (method, path, watch, kind) => {
  expect(requestKind(method, path, watch)).toEqual(kind);
});
