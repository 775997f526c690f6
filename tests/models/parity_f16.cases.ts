import { parityCases } from './parity.cases';

/** The parity cases with linear weights kept as f16 on the GPU (unpacked in-kernel). */
export const cases = parityCases(true);
