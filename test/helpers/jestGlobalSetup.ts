/** Runs once in jest's own process, before the test processes start: they inherit its environment. */
import { prepareHeadlessEgl } from '../../src/backend/headlessEgl';

export default function globalSetup(): void {
  prepareHeadlessEgl();
}
