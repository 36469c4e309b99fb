/**
 * jest's node environment plus a final cleanup per test file (test/helpers/cleanup.ts): teardown() runs after
 * the file's last afterAll hook, also when tests or hooks failed, which no hook registered by the file can
 * guarantee (jest runs top-level afterAll hooks in registration order).
 */
import NodeEnvironment from 'jest-environment-node';
import { FINAL_CLEANUP_KEY, runFinalCleanup, type FinalCleanup } from './cleanup';

export default class BerthEnvironment extends NodeEnvironment {
  private readonly testPath: string;

  constructor(...args: ConstructorParameters<typeof NodeEnvironment>) {
    super(...args);
    this.testPath = args[1].testPath;
  }

  override async teardown(): Promise<void> {
    const reg = (this.global as unknown as Record<string, FinalCleanup | undefined>)[FINAL_CLEANUP_KEY];
    const problems = await runFinalCleanup(reg);
    // The outer process's stderr: the file's own console is gone by now.
    if (problems.length > 0) process.stderr.write(`berth test cleanup after ${this.testPath}:\n  ${problems.join('\n  ')}\n`);
    await super.teardown();
  }
}
