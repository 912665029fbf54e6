/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time per package / area and the
 * top functions by self and by total (inclusive) time.
 *
 * Run: `node --import tsx bench/tools/cpuprofile-summary.ts <file.cpuprofile> [--top=25]`
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Which area of the stack a frame belongs to. */
export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'program (V8/native)';
    return `native: ${functionName || '(anonymous)'}`;
  }
  if (url.startsWith('node:')) return 'node internals';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm?.[1]) return nm[1];
  const own = /\/(src|machines|bench|test)\/([^/]+)/.exec(url);
  if (own) return `sprout ${own[1]}/${own[1] === 'src' ? own[2] : ''}`.replace(/\/$/, '');
  return url;
}

const label = (frame: CallFrame): string => {
  const file = frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|machines|bench)\//, '$1/');
  return `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
};

/** Self and total milliseconds per frame and self per area. */
export function summarize(profile: CpuProfile) {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const area = new Map<string, number>();
  const selfByLabel = new Map<string, number>();
  const totalByLabel = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    total += us;
    const a = areaOf(node.callFrame);
    area.set(a, (area.get(a) ?? 0) + us);
    const l = label(node.callFrame);
    selfByLabel.set(l, (selfByLabel.get(l) ?? 0) + us);
    // Inclusive: charge each distinct frame label on the stack once.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frameLabel = label(byId.get(cur)!.callFrame);
      if (seen.has(frameLabel)) continue;
      seen.add(frameLabel);
      totalByLabel.set(frameLabel, (totalByLabel.get(frameLabel) ?? 0) + us);
    }
  }
  return { totalMs: total / 1000, area, selfByLabel, totalByLabel };
}

function print(title: string, entries: Map<string, number>, totalUs: number, top: number): void {
  console.log(`\n${title}`);
  for (const [name, us] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${(us / 1000).toFixed(1).padStart(10)} ms ${((100 * us) / totalUs).toFixed(1).padStart(5)}%  ${name}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: cpuprofile-summary.ts <file.cpuprofile> [--top=25]');
    process.exit(2);
  }
  const top = Number(/--top=(\d+)/.exec(process.argv.join(' '))?.[1] ?? 25);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const { totalMs, area, selfByLabel, totalByLabel } = summarize(profile);
  const totalUs = totalMs * 1000;
  console.log(`${file}: ${totalMs.toFixed(0)} ms sampled`);
  print('self time by area', area, totalUs, top);
  print('top functions by self time', selfByLabel, totalUs, top);
  print('top functions by total (inclusive) time', totalByLabel, totalUs, top);
}
