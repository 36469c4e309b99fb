import { pluginMain } from '../plugin';

pluginMain(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`kubectl-berth: ${String(err)}\n`);
    process.exit(1);
  },
);
