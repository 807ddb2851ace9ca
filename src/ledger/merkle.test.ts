import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { auditPath, MerkleTree, merkleRoot, verifyAuditPath } from './merkle';

// The recursive definitions of RFC 6962 §2.1 (MTH) and §2.1.1 (PATH), as the reference.
const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
const k = (n: number) => 2 ** Math.floor(Math.log2(n - 1)); // largest power of two < n
function mth(d: Buffer[]): Buffer {
  if (d.length === 1) return sha(Buffer.from([0]), d[0]!);
  const s = k(d.length);
  return sha(Buffer.from([1]), mth(d.slice(0, s)), mth(d.slice(s)));
}
function refPath(m: number, d: Buffer[]): Buffer[] {
  if (d.length === 1) return [];
  const s = k(d.length);
  return m < s ? [...refPath(m, d.slice(0, s)), mth(d.slice(s))] : [...refPath(m - s, d.slice(s)), mth(d.slice(0, s))];
}

const leaf = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const leaves = fc.array(leaf, { minLength: 1, maxLength: 70 });
const flip = (hex: string, bit: number) => {
  const b = Buffer.from(hex, 'hex');
  b[(bit >> 3) % b.length]! ^= 1 << (bit & 7);
  return b.toString('hex');
};

describe('ledger/merkle > RFC 6962 tree, audit paths', () => {
  it('computes the same root and paths as the recursive RFC 6962 definition (property)', () => {
    fc.assert(
      fc.property(leaves, (ls) => {
        const d = ls.map((h) => Buffer.from(h, 'hex'));
        const tree = new MerkleTree(ls);
        expect(tree.root).toBe(mth(d).toString('hex'));
        expect(merkleRoot(ls)).toBe(tree.root);
        for (let i = 0; i < ls.length; i++) expect(tree.path(i)).toEqual(refPath(i, d).map((b) => b.toString('hex')));
      }),
    );
  });

  it('verifies every leaf of every tree against its root (property)', () => {
    fc.assert(
      fc.property(leaves, (ls) => {
        const tree = new MerkleTree(ls);
        ls.forEach((l, i) => expect(verifyAuditPath(l, i, ls.length, tree.path(i), tree.root)).toBe(true));
      }),
    );
  });

  it('fails when any bit of the leaf, a path element or the root is flipped, or the index is wrong (property)', () => {
    fc.assert(
      fc.property(leaves, fc.nat(), fc.nat(255), (ls, pick, bit) => {
        const i = pick % ls.length;
        const tree = new MerkleTree(ls);
        const path = tree.path(i);
        expect(verifyAuditPath(flip(ls[i]!, bit), i, ls.length, path, tree.root)).toBe(false);
        expect(verifyAuditPath(ls[i]!, i, ls.length, path, flip(tree.root, bit))).toBe(false);
        if (path.length) {
          const j = bit % path.length;
          const bad = path.map((p, n) => (n === j ? flip(p, bit) : p));
          expect(verifyAuditPath(ls[i]!, i, ls.length, bad, tree.root)).toBe(false);
          expect(verifyAuditPath(ls[i]!, i, ls.length, path.slice(1), tree.root)).toBe(false);
        }
        // Another position only verifies when that leaf holds the same hash (duplicates).
        if (ls.length > 1) {
          const other = (i + 1) % ls.length;
          if (ls[other] !== ls[i]) expect(verifyAuditPath(ls[i]!, other, ls.length, path, tree.root)).toBe(false);
        }
        // (A wrong size may still verify when it gives the leaf the same path shape, e.g. leaf 0 of 3
        // or of 4: the offline verifier takes the size from the signed checkpoint's count, not the proof.)
        expect(verifyAuditPath(ls[i]!, i, i, path, tree.root)).toBe(false);
      }),
    );
  });

  it('answers false (never throws) on malformed input', () => {
    const ls = ['a'.repeat(64), 'b'.repeat(64), 'c'.repeat(64)];
    const t = new MerkleTree(ls);
    expect(verifyAuditPath('zz', 0, 3, t.path(0), t.root)).toBe(false);
    expect(verifyAuditPath(ls[0]!, -1, 3, t.path(0), t.root)).toBe(false);
    expect(verifyAuditPath(ls[0]!, 3, 3, t.path(0), t.root)).toBe(false);
    expect(verifyAuditPath(ls[0]!, 0, 3, ['nothex'], t.root)).toBe(false);
    expect(verifyAuditPath(ls[0]!, 0, 3, null as unknown as string[], t.root)).toBe(false);
    expect(() => auditPath(ls, 5)).toThrow(RangeError);
    expect(() => merkleRoot([])).toThrow(RangeError);
  });

  it('a one-leaf tree has an empty path and the leaf hash as root', () => {
    const l = 'd'.repeat(64);
    expect(auditPath([l], 0)).toEqual([]);
    expect(verifyAuditPath(l, 0, 1, [], merkleRoot([l]))).toBe(true);
  });
});
