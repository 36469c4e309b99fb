import { berthctlMain } from '../cri';

berthctlMain(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`berthctl: ${String(err)}\n`);
    process.exit(1);
  },
);
