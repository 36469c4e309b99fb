import { bridge, pluginCli } from '../cni';

// CNI plugin executable: environment + stdin in, result or error JSON on stdout, exit code (spec: CNI 1.1).
pluginCli('berth-bridge', bridge, 'creates a bridge and a veth pair per container, addresses from the IPAM plugin');
