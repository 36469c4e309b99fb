import { berthdMain } from '../cri/daemon';
import { ImageStore } from '../image/store/image-store';

berthdMain(process.argv.slice(2), (options, logger) => ImageStore.open({ ...options, logger })).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`berthd: ${String(err)}\n`);
    process.exit(1);
  },
);
