/**
 * The distributor: which units of the plan a process computes. Part I of N takes the units
 * whose index is I modulo N: disjoint, together the whole plan, stable for a given plan (the
 * same inputs and shard size give the same units everywhere), and balanced when neighbouring
 * inputs have similar sizes. The shards a part writes are exactly the single run's shards of
 * those units, so parts merge into the single run's dataset.
 *
 * A Kubernetes Indexed Job gives each pod JOB_COMPLETION_INDEX; the number of parts comes from
 * JOB_COMPLETIONS, which the Job manifest sets to its `completions` (docker/k8s/dataset-job).
 */

export interface ShardSelection {
  readonly index: number;
  readonly count: number;
}

export const WHOLE: ShardSelection = Object.freeze({ index: 0, count: 1 });

export class ShardError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShardError';
  }
}

function nonNegativeInteger(text: string): number | undefined {
  return /^\d+$/.test(text.trim()) ? Number(text.trim()) : undefined;
}

/** `I/N` with 0 <= I < N. */
export function parseShard(text: string, source = '--shard'): ShardSelection {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = match ? Number(match[1]) : NaN;
  const count = match ? Number(match[2]) : NaN;
  if (!match || !(count >= 1) || !(index < count)) {
    throw new ShardError(`${source}='${text}': expected I/N with 0 <= I < N (part I of N, counted from 0), e.g. 0/4`);
  }
  return { index, count };
}

/**
 * The selection of this process: --shard when given, else the Indexed Job's variables when
 * present, else the whole plan.
 */
export function selectShard(flag: string | undefined, env: NodeJS.ProcessEnv): ShardSelection {
  if (flag !== undefined) return parseShard(flag);
  const indexText = env.JOB_COMPLETION_INDEX;
  if (indexText === undefined || indexText === '') return WHOLE;
  const index = nonNegativeInteger(indexText);
  const countText = env.JOB_COMPLETIONS;
  const count = countText === undefined ? undefined : nonNegativeInteger(countText);
  if (index === undefined) throw new ShardError(`JOB_COMPLETION_INDEX='${indexText}': expected a non-negative integer`);
  if (count === undefined || count < 1) {
    throw new ShardError(
      `JOB_COMPLETION_INDEX=${index} is set but JOB_COMPLETIONS ('${countText ?? ''}') does not give the number of parts: ` +
        "set it to the Job's spec.completions (docker/k8s/dataset-job does), or pass --shard I/N",
    );
  }
  return parseShard(`${index}/${count}`, 'JOB_COMPLETION_INDEX/JOB_COMPLETIONS');
}

export function inPart(unit: number, selection: ShardSelection): boolean {
  return unit % selection.count === selection.index;
}
