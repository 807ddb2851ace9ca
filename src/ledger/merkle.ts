import { sha256 } from '../model/digest';

/**
 * Merkle tree over the ledger entries of one checkpoint interval, as in Certificate Transparency
 * (RFC 6962 §2.1 / RFC 9162 §2.1): leaf = SHA-256(0x00 ‖ entry hash), node = SHA-256(0x01 ‖ left ‖
 * right), the tree of n leaves splits at the largest power of two below n. The 0x00/0x01 prefixes
 * keep a leaf from passing as an inner node (second-preimage attacks). Leaves are entry hashes as
 * 64 hex digits; roots and path elements are hex too.
 *
 * Built bottom-up: pairing neighbours level by level and carrying an odd last node up unchanged
 * gives exactly the RFC 6962 tree (property-tested against the recursive definition).
 */

/**
 * Hex out (the one-shot hash): a checkpoint hashes 2n-1 nodes, and a Hash object or a Buffer result
 * per node costs about twice as much. Node values stay hex strings throughout.
 */
const sha256Hex = (b: Buffer): string => sha256(b, 'hex');

/** Scratch inputs (hashing is synchronous, so one of each is enough): 0x00 ‖ leaf, 0x01 ‖ left ‖ right. */
const leafIn = Buffer.alloc(33);
const nodeIn = Buffer.alloc(65);
nodeIn[0] = 1;

const HEX64 = /^[0-9a-f]{64}$/;

function checkHex(hex: string, what: string): void {
  if (!HEX64.test(hex)) throw new TypeError(`merkle: ${what} must be 64 lower-case hex digits (got ${JSON.stringify(hex).slice(0, 80)})`);
}

/** SHA-256(0x00 ‖ entry hash), hex. */
export function leafHash(entryHashHex: string): string {
  checkHex(entryHashHex, 'leaf');
  leafIn.write(entryHashHex, 1, 32, 'hex');
  return sha256Hex(leafIn);
}

/** SHA-256(0x01 ‖ left ‖ right), hex in and out (64 lower-case hex digits each: the tree's own values). */
export function nodeHash(leftHex: string, rightHex: string): string {
  nodeIn.write(leftHex, 1, 32, 'hex');
  nodeIn.write(rightHex, 33, 32, 'hex');
  return sha256Hex(nodeIn);
}

/** Every level of the tree: levels[0] = leaf hashes, the last level holds the root. */
function levels(leaves: string[]): string[][] {
  if (!leaves.length) throw new RangeError('merkle: a tree needs at least one leaf');
  const out: string[][] = [leaves.map(leafHash)];
  for (let cur = out[0]!; cur.length > 1; ) {
    const next: string[] = [];
    for (let i = 0; i + 1 < cur.length; i += 2) next.push(nodeHash(cur[i]!, cur[i + 1]!));
    if (cur.length % 2) next.push(cur[cur.length - 1]!);
    out.push(next);
    cur = next;
  }
  return out;
}

/** Root of the tree over `leaves` (hex). */
export function merkleRoot(leaves: string[]): string {
  const lv = levels(leaves);
  return lv[lv.length - 1]![0]!;
}

/** A tree built once, for the audit paths of many leaves (an export proves many records of one interval). */
export class MerkleTree {
  private readonly lv: string[][];
  constructor(leaves: string[]) {
    this.lv = levels(leaves);
  }
  get size(): number {
    return this.lv[0]!.length;
  }
  get root(): string {
    return this.lv[this.lv.length - 1]![0]!;
  }
  /** Audit path of leaf `index` (RFC 9162 §2.1.3.1): sibling hashes from the leaf up, hex. */
  path(index: number): string[] {
    if (!Number.isInteger(index) || index < 0 || index >= this.size) throw new RangeError(`merkle: leaf index ${index} outside a tree of ${this.size}`);
    const out: string[] = [];
    let i = index;
    for (let l = 0; l < this.lv.length - 1; l++) {
      const level = this.lv[l]!;
      const sib = i ^ 1;
      // An odd last node has no sibling on this level: it is carried up as it is.
      if (sib < level.length) out.push(level[sib]!);
      i >>= 1;
    }
    return out;
  }
}

/** Audit path of leaf `index` in the tree over `leaves`. */
export function auditPath(leaves: string[], index: number): string[] {
  return new MerkleTree(leaves).path(index);
}

/**
 * Verify an audit path (RFC 9162 §2.1.3.2): does the leaf `entryHashHex` sit at `index` of a tree of
 * `size` leaves whose root is `rootHex`? Never throws on bad input; answers false.
 */
export function verifyAuditPath(entryHashHex: string, index: number, size: number, path: string[], rootHex: string): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size || !Array.isArray(path)) return false;
  if (!/^[0-9a-f]{64}$/.test(entryHashHex) || !/^[0-9a-f]{64}$/.test(rootHex)) return false;
  let fn = index;
  let sn = size - 1;
  let r = leafHash(entryHashHex);
  for (const p of path) {
    if (typeof p !== 'string' || !/^[0-9a-f]{64}$/.test(p)) return false;
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r === rootHex;
}
