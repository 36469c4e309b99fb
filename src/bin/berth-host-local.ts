import { hostLocal, pluginCli } from '../cni';

// CNI plugin executable: environment + stdin in, result or error JSON on stdout, exit code (spec: CNI 1.1).
pluginCli('berth-host-local', hostLocal, 'allocates IP addresses from local ranges (host-local IPAM)');
