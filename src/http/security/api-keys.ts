/**
 * Bearer API keys. Keys are kept only as SHA-256 digests; a presented key is hashed and
 * compared with every configured digest by crypto.timingSafeEqual (equal lengths by
 * construction, no early exit), so the time taken says nothing about how much of a key matched
 * or which key it was.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

export interface ApiKeyMatch {
  /** Safe to log and to key rate limits on: 'key-N', the key's position in TOKLIP_API_KEYS. */
  readonly id: string;
}

export class ApiKeys {
  private readonly digests: readonly Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map(sha256);
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** The matching key's id, or undefined. Always compares against every key. */
  match(presented: string): ApiKeyMatch | undefined {
    const digest = sha256(presented);
    let found = -1;
    this.digests.forEach((candidate, i) => {
      if (timingSafeEqual(digest, candidate)) found = i;
    });
    return found < 0 ? undefined : { id: `key-${found + 1}` };
  }
}
