import { portmap, pluginCli } from '../cni';

// CNI plugin executable: environment + stdin in, result or error JSON on stdout, exit code (spec: CNI 1.1).
pluginCli('berth-portmap', portmap, 'forwards host ports to the container (DNAT, hairpin, localhost)');
