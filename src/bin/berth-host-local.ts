import { hostLocal } from '../cni/host-local/plugin';
import { pluginMain } from '../cni/pkg/skel';

// CNI plugin executable: environment + stdin in, result or error JSON on stdout, exit code (spec: CNI 1.1).
pluginMain(hostLocal).catch((err) => {
  process.stdout.write(`${JSON.stringify({ code: 999, msg: `berth-host-local: ${String(err)}` })}\n`);
  process.exitCode = 1;
});
