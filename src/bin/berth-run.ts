import { main } from '../oci/cli/main';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`berth-run: ${String(err)}\n`);
    process.exit(1);
  },
);
