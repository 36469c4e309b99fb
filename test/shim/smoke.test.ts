import { Runtime } from '../../src/oci/runtime/runtime';
import { makeBundle, REPO } from '../helpers/oci';
import * as fs from 'node:fs';
test('smoke', async () => {
  const rt = new Runtime({ root: '/tmp/shim-smoke/root' });
  const b = makeBundle((s) => { s.process!.args = ['sh', '-c', 'echo hello; echo oops >&2; sleep 1; exit 7']; });
  const dir = '/tmp/shim-smoke/c1'; fs.rmSync(dir, { recursive: true, force: true }); fs.mkdirSync(dir, {recursive: true});
  const t0 = Date.now();
  const id = 'c1-' + process.pid;
  const st = await rt.create(id, { bundle: b, stdio: ['ignore', 'ignore', 'ignore'], launcher: { file: REPO + '/build/bin/berth-monitor', args: ['--dir', dir, '--log', dir + '/log', '--init'] } });
  console.log('created', st.pid, Date.now() - t0);
  const ppid = Number(fs.readFileSync(`/proc/${st.pid}/status`, 'utf8').match(/PPid:\s*(\d+)/)![1]);
  console.log(ppid, fs.readlinkSync(`/proc/${ppid}/exe`), fs.readFileSync(`/proc/${ppid}/cgroup`, 'utf8').split('\n').filter(l => l.includes('memory')),
  fs.readFileSync(`/proc/${st.pid}/cgroup`, 'utf8').split('\n').filter(l => l.includes('memory')));
  await rt.start(id);
  await new Promise((r) => setTimeout(r, 1500));
  console.log(fs.readFileSync(dir + '/log', 'utf8'), fs.readFileSync(dir + '/exit.json', 'utf8'));
  await rt.delete(id);
});
