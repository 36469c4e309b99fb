import { berthdMain } from '../cri';
import { openImageStore } from '../image/api';

berthdMain(process.argv.slice(2), (options, logger) => openImageStore({ ...options, logger })).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`berthd: ${String(err)}\n`);
    process.exit(1);
  },
);
