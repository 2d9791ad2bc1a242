import { apiCase } from './api-case';
import { codecCase } from './codec-case';
import type { CaseContext } from './context';
import { elfCase } from './elf-case';
import type { Rng } from './random';

export type TargetName = 'elf' | 'codec' | 'api';

/** Each target runs one case from its own generator; it returns a short outcome label. */
export const TARGETS: Record<TargetName, (rng: Rng, ctx: CaseContext) => Promise<string>> = {
  elf: elfCase,
  codec: codecCase,
  api: apiCase,
};
