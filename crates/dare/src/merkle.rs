//! The Merkle tree over a container's frames (dare-12 §4.2.2) with O(log n) inclusion proofs.
//!
//! Leaves are the frames' PayloadDigests, hashed as `H(64 zero octets ‖ PayloadDigest)` — the
//! "digest of that value and the immediately preceding local apex", with no apex before the
//! first frame. This reproduces the TreeDigest of frame 1 in dare-12 §14.3. Interior nodes are
//! `H(left ‖ right)`, and the tree over n frames is split as RFC 9162 §2.1.1 does (largest power
//! of two first), so proofs are RFC 9162 audit paths. Data over text: the later TreeDigests of
//! the §14.3 example cannot come from any tree (frames 1, 3 and 5 print the same value although
//! their trees differ), so only frame 1 is a test vector.
//!
//! Nodes are kept level by level (2n digests), so appending costs amortised O(1) hashes and a
//! proof O(log n) node lookups plus the O(log n) peaks of a partial subtree.

use sha2::{Digest, Sha512};

pub type Hash = [u8; 64];

fn h2(a: &[u8], b: &[u8]) -> Hash {
    let mut h = Sha512::new();
    h.update(a);
    h.update(b);
    h.finalize().into()
}

/// The leaf value of a frame with the given PayloadDigest.
pub fn leaf(payload_digest: &[u8]) -> Hash {
    h2(&[0u8; 64], payload_digest)
}

pub fn node(left: &Hash, right: &Hash) -> Hash {
    h2(left, right)
}

/// An inclusion proof: `path` proves leaf `index` (0-based) in the tree of `size` leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleProof {
    pub index: u64,
    pub size: u64,
    pub path: Vec<Hash>,
}

/// Only the peaks of a Merkle tree (the roots of its complete subtrees, largest first, one per
/// set bit of the leaf count): enough to append and to give the root, in O(log n) space. For
/// stores that keep leaves elsewhere and need just the apex digest after an append.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MerkleFrontier {
    len: u64,
    peaks: Vec<Hash>,
}

impl MerkleFrontier {
    pub fn new() -> Self {
        Self::default()
    }

    /// The frontier of a tree of `len` leaves from its peaks as [`Self::to_bytes`] wrote them;
    /// `None` if their number does not match `len`.
    pub fn from_bytes(len: u64, bytes: &[u8]) -> Option<Self> {
        if !bytes.len().is_multiple_of(64) || (bytes.len() / 64) as u32 != len.count_ones() {
            return None;
        }
        let peaks = bytes
            .chunks(64)
            .map(|c| c.try_into().expect("64-octet chunks"))
            .collect();
        Some(MerkleFrontier { len, peaks })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.peaks.concat()
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append a leaf: the new peak merges with the equal-sized peaks before it.
    pub fn push(&mut self, leaf: Hash) {
        self.peaks.push(leaf);
        self.len += 1;
        // Each trailing one bit of the old count is a peak of the size of the one being made.
        let mut merges = (self.len - 1).trailing_ones();
        while merges > 0 {
            let right = self.peaks.pop().expect("a peak per set bit");
            let left = self.peaks.pop().expect("a peak per set bit");
            self.peaks.push(node(&left, &right));
            merges -= 1;
        }
    }

    /// The root: the peaks folded from the right, as the RFC 9162 split nests them.
    pub fn root(&self) -> Option<Hash> {
        let mut peaks = self.peaks.iter().rev();
        let last = *peaks.next()?;
        Some(peaks.fold(last, |acc, left| node(left, &acc)))
    }
}

#[derive(Debug, Clone, Default)]
pub struct MerkleTree {
    levels: Vec<Vec<Hash>>,
}

fn largest_power_below(n: u64) -> u64 {
    debug_assert!(n > 1);
    1u64 << (63 - (n - 1).leading_zeros())
}

impl MerkleTree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop leaves back to the first `size` (undoing appends that did not reach the disk).
    pub fn truncate(&mut self, size: u64) {
        for (level, nodes) in self.levels.iter_mut().enumerate() {
            nodes.truncate((size >> level) as usize);
        }
    }

    /// Append a leaf value (see [`leaf`]): amortised O(1) hashes.
    pub fn push(&mut self, leaf: Hash) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        let mut level = 0;
        while self.levels[level].len().is_multiple_of(2) {
            let n = self.levels[level].len();
            let parent = node(&self.levels[level][n - 2], &self.levels[level][n - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(parent);
            level += 1;
        }
    }

    /// Append a leaf and return the new root (O(log n) more hashes for a partial tree).
    pub fn push_root(&mut self, leaf: Hash) -> Hash {
        self.push(leaf);
        self.root().expect("not empty")
    }

    /// Hash of the `size` leaves from `start`, where the range is a node of the RFC 9162 split.
    fn subtree(&self, start: u64, size: u64) -> Hash {
        if size.is_power_of_two() && start.is_multiple_of(size) {
            let level = size.trailing_zeros() as usize;
            return self.levels[level][(start >> level) as usize];
        }
        let k = largest_power_below(size);
        node(&self.subtree(start, k), &self.subtree(start + k, size - k))
    }

    /// The root of the tree over the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        (size > 0 && size <= self.len()).then(|| self.subtree(0, size))
    }

    pub fn root(&self) -> Option<Hash> {
        self.root_at(self.len())
    }

    /// Proof that leaf `index` is in the tree of the first `size` leaves.
    pub fn proof(&self, index: u64, size: u64) -> Option<MerkleProof> {
        if index >= size || size > self.len() {
            return None;
        }
        let mut path = Vec::new();
        self.path(index, 0, size, &mut path);
        Some(MerkleProof { index, size, path })
    }

    fn path(&self, m: u64, start: u64, n: u64, out: &mut Vec<Hash>) {
        if n <= 1 {
            return;
        }
        let k = largest_power_below(n);
        if m < k {
            self.path(m, start, k, out);
            out.push(self.subtree(start + k, n - k));
        } else {
            self.path(m - k, start + k, n - k, out);
            out.push(self.subtree(start, k));
        }
    }
}

impl MerkleProof {
    /// Does this proof show `leaf` under `root`? (RFC 9162 §2.1.3.2.)
    pub fn verify(&self, leaf: &Hash, root: &Hash) -> bool {
        if self.index >= self.size {
            return false;
        }
        let (mut f, mut s) = (self.index, self.size - 1);
        let mut r = *leaf;
        for p in &self.path {
            if s == 0 {
                return false;
            }
            if f & 1 == 1 || f == s {
                r = node(p, &r);
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            } else {
                r = node(&r, p);
            }
            f >>= 1;
            s >>= 1;
        }
        s == 0 && r == *root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(leaves: &[Hash]) -> Hash {
        if leaves.len() == 1 {
            return leaves[0];
        }
        let k = largest_power_below(leaves.len() as u64) as usize;
        node(&naive(&leaves[..k]), &naive(&leaves[k..]))
    }

    #[test]
    fn frontier_roots_match_the_tree() {
        let mut tree = MerkleTree::new();
        let mut frontier = MerkleFrontier::new();
        assert_eq!(frontier.root(), None);
        for i in 0..300u32 {
            let leaf = leaf(&i.to_le_bytes());
            tree.push(leaf);
            frontier.push(leaf);
            assert_eq!(frontier.root(), tree.root(), "{} leaves", i + 1);
            let stored = MerkleFrontier::from_bytes(frontier.len(), &frontier.to_bytes());
            assert_eq!(stored.as_ref(), Some(&frontier));
        }
        assert!(MerkleFrontier::from_bytes(3, &[0u8; 64]).is_none());
        assert!(MerkleFrontier::from_bytes(1, &[0u8; 63]).is_none());
    }

    #[test]
    fn roots_and_proofs_match_the_definition() {
        let mut tree = MerkleTree::new();
        let mut leaves = Vec::new();
        for i in 0..70u32 {
            let l = leaf(&i.to_be_bytes());
            leaves.push(l);
            let root = tree.push_root(l);
            assert_eq!(root, naive(&leaves));
        }
        for size in 1..=70u64 {
            let root = tree.root_at(size).unwrap();
            assert_eq!(root, naive(&leaves[..size as usize]));
            for index in 0..size {
                let proof = tree.proof(index, size).unwrap();
                assert!(proof.path.len() <= 64 - (size - 1).leading_zeros() as usize);
                assert!(proof.verify(&leaves[index as usize], &root));
                let other = (index + 1) % 70;
                if other != index {
                    assert!(!proof.verify(&leaves[other as usize], &root));
                }
            }
        }
    }
}
