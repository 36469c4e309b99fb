import { main, writeErr } from '../oci';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    writeErr(`berth-run: ${String(err)}\n`);
    process.exit(1);
  },
);
