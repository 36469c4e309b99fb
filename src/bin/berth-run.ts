import { main } from '../oci/cli/main';
import { writeErr } from '../oci/cli/output';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    writeErr(`berth-run: ${String(err)}\n`);
    process.exit(1);
  },
);
