import { berthdMain } from '../cri/daemon';
import { noImageStore } from '../cri/no-image-store';

berthdMain(process.argv.slice(2), () => noImageStore()).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`berthd: ${String(err)}\n`);
    process.exit(1);
  },
);
