/**
 * Run by image-store.test.ts in a child process (bundled with esbuild) to be killed with SIGKILL mid-pull:
 * `node pull-child.js ROOT REFERENCE` prints one JSON line per progress event, then `done`.
 */
import { ImageStore } from '../../src/image/store/image-store';

const [root, reference] = process.argv.slice(2);
const store = ImageStore.open({ root, maxConcurrentDownloads: 3 });
store
  .pull({ reference, onProgress: (e) => process.stdout.write(JSON.stringify(e) + '\n') })
  .then(async () => {
    await store.close();
    process.stdout.write('done\n');
  })
  .catch((err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
