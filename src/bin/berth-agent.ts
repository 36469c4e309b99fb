import { agentMain } from '../agent';

agentMain(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`berth-agent: ${String(err)}\n`);
    process.exit(1);
  },
);
