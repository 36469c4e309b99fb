import { loopback } from '../cni/loopback/plugin';
import { pluginCli } from '../cni/pkg/cli';

// CNI plugin executable: environment + stdin in, result or error JSON on stdout, exit code (spec: CNI 1.1).
pluginCli('berth-loopback', loopback, 'brings up the loopback interface in the container network namespace');
