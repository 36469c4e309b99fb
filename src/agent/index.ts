/** The agent component's public face: berth-agent's entry point (src/bin/berth-agent.ts). */
export { agentMain } from './main';
