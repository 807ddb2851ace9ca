import crypto from 'node:crypto';

/**
 * Node's one-shot hash (20.12+): no Hash object per call, which costs about as much as hashing a
 * short input. Older Node 20 releases fall back to a Hash object.
 */
const oneShot = (crypto as unknown as { hash?: (alg: string, data: string | Buffer, enc: 'hex' | 'base64url') => string }).hash;

/** SHA-256 of a string's UTF-8 bytes (or of a buffer), encoded as `enc`. */
export function sha256(data: string | Buffer, enc: 'hex' | 'base64url'): string {
  return oneShot ? oneShot('sha256', data, enc) : crypto.createHash('sha256').update(data).digest(enc);
}
