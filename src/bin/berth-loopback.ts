import { loopback, pluginCli } from '../cni';

// CNI plugin executable: environment + stdin in, result or error JSON on stdout, exit code (spec: CNI 1.1).
pluginCli('berth-loopback', loopback, 'brings up the loopback interface in the container network namespace');
