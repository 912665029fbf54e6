/**
 * The agent of the `sprout worker` processes in the `distributed` benchmark (`--agent-module`):
 * appends a one-word answer and resolves at once — no tokens, no timer — so the figure is the
 * cost of a distributed run (queue, leases, PostgreSQL store and event log), not the agent's.
 */
import type { AgentRuntime } from '../../src/api/ports.js';

const noopAgent: AgentRuntime = {
  execute(session) {
    session.messages.push({ id: `${session.id}-a`, role: 'assistant', content: 'ok', created_at: session.created_at });
    return Promise.resolve();
  },
};

export default noopAgent;
