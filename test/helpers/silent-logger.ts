import { pino } from 'pino';

/** Tests log nothing unless TOKLIP_TEST_LOG names a level (e.g. TOKLIP_TEST_LOG=debug). */
export function testLogger() {
  return pino({ level: process.env.TOKLIP_TEST_LOG ?? 'silent' });
}
