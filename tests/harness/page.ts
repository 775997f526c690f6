// The browser half of the harness: opens a cases module and a device, runs cases by name on request.
import { createDevice, type FlapDevice } from '../../src/runtime/device';
import { runCase, type CaseResult, type Cases } from './cases';

let cases: Cases | undefined;
let device: FlapDevice | undefined;

const w = window as unknown as Record<string, unknown>;

w.__openCases = async (modulePath: string, deviceOptions: object): Promise<string> => {
  try {
    cases = ((await import(/* @vite-ignore */ modulePath)) as { cases: Cases }).cases;
    device = await createDevice(deviceOptions);
    return 'ok';
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
};

w.__runCase = async (name: string): Promise<CaseResult> => {
  const fn = cases?.[name];
  if (!fn || !device) return { ok: false, error: `case ${name} is not loaded`, logs: [] };
  return runCase(fn, device, 'chromium');
};

w.__closeCases = () => device?.destroy();

w.__flapReady = true;
