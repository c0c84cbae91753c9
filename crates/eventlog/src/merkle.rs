//! The RFC 6962 / RFC 9162 Merkle tree over the log: hashes, roots, proofs and their verification.
//!
//! Leaf `i` (0-based) is the event at position `i + 1`; its data is the event's stored record
//! bytes (the same bytes the chain hashes). The tree of size `n` covers positions `1..=n`:
//!
//! - leaf hash `SHA-256(0x00 || data)`, node hash `SHA-256(0x01 || left || right)`;
//! - `MTH({}) = SHA-256("")` ([`EMPTY_ROOT`]);
//! - for `n > 1`, with `k` the largest power of two smaller than `n`,
//!   `MTH(D[0:n]) = node_hash(MTH(D[0:k]), MTH(D[k:n]))` (RFC 6962 §2.1).
//!
//! Everything here is pure (no storage). [`verify_inclusion`] and [`verify_consistency`] follow
//! the verification algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2 step by step; they are what a
//! client runs against a proof from [`EventLog::inclusion_proof`](crate::EventLog::inclusion_proof)
//! and [`EventLog::consistency_proof`](crate::EventLog::consistency_proof).
//!
//! Proof *generation* ([`root_with`], [`inclusion_proof_with`], [`consistency_proof_with`]) is
//! written against a reader of *perfect* subtrees only: `node(level, index)` is the hash of the
//! perfect subtree of `2^level` leaves `index * 2^level .. (index + 1) * 2^level`. Every root and
//! every proof of any size is then made of O(log n) such reads (the log stores those of 16
//! leaves and more and computes the smaller ones from their records, see `layout.rs`).

use sha2::{Digest, Sha256};

/// A SHA-256 hash in the Merkle tree: a leaf hash, a node hash or a root.
pub type MerkleHash = [u8; 32];

/// `MTH({})`, the root of the empty tree: SHA-256 of the empty string
/// (`e3b0c442 98fc1c14 9afbf4c8 996fb924 27ae41e4 649b934c a495991b 7852b855`).
pub const EMPTY_ROOT: MerkleHash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41,
    0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// Why a proof did not verify. Every variant names what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// An inclusion proof was asked to prove a leaf that is not in the tree.
    #[error("leaf index {leaf_index} is not below tree size {tree_size}")]
    LeafIndexOutOfRange { leaf_index: u64, tree_size: u64 },

    /// A consistency proof between a larger first tree and a smaller second one.
    #[error("first tree size {first_size} is larger than second tree size {second_size}")]
    FirstSizeAboveSecond { first_size: u64, second_size: u64 },

    /// The proof has more hashes than the sizes call for.
    #[error("proof has {actual} hashes, {expected} expected: too long")]
    ProofTooLong { expected: usize, actual: usize },

    /// The proof has fewer hashes than the sizes call for.
    #[error("proof has {actual} hashes, {expected} expected: too short")]
    ProofTooShort { expected: usize, actual: usize },

    /// The root the proof leads to is not the root given (inclusion: the tree root;
    /// consistency: the second tree's root).
    #[error("the proof leads to root {c}, not the given root {e}", c = hex(.computed), e = hex(.expected))]
    RootMismatch { computed: MerkleHash, expected: MerkleHash },

    /// A consistency proof leads to a first-tree root other than the one given (also: equal
    /// sizes with different roots, or size 0 with a root other than [`EMPTY_ROOT`]).
    #[error("the proof leads to first root {c}, not the given first root {e}", c = hex(.computed), e = hex(.expected))]
    FirstRootMismatch { computed: MerkleHash, expected: MerkleHash },
}

fn hex(hash: &MerkleHash) -> String {
    hash.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `SHA-256(0x00 || data)`: the hash of a leaf whose data is `data`.
pub fn leaf_hash(data: &[u8]) -> MerkleHash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(data);
    hasher.finalize().into()
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node.
pub fn node_hash(left: &MerkleHash, right: &MerkleHash) -> MerkleHash {
    let mut hasher = Sha256::new();
    hasher.update([NODE_PREFIX]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// `MTH(D[0:n])` straight from the definition (RFC 6962 §2.1), over all leaf hashes: the
/// reference the stored tree is checked against. O(n) hashing, O(log n) stack.
pub fn root_from_leaf_hashes(leaf_hashes: &[MerkleHash]) -> MerkleHash {
    match leaf_hashes.len() {
        0 => EMPTY_ROOT,
        1 => leaf_hashes[0],
        n => {
            let k = largest_power_of_two_below(n as u64) as usize;
            node_hash(
                &root_from_leaf_hashes(&leaf_hashes[..k]),
                &root_from_leaf_hashes(&leaf_hashes[k..]),
            )
        }
    }
}

/// The largest power of two strictly smaller than `n` (`n >= 2`).
fn largest_power_of_two_below(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// How many hashes an inclusion proof of `leaf_index` in a tree of `tree_size` has
/// (`leaf_index < tree_size`).
pub fn inclusion_proof_len(leaf_index: u64, tree_size: u64) -> usize {
    debug_assert!(leaf_index < tree_size);
    // The RFC 9162 §2.1.3.2 loop, counting instead of hashing.
    let (mut fn_, mut sn) = (leaf_index, tree_size - 1);
    let mut len = 0;
    while sn != 0 {
        len += 1;
        if fn_ & 1 == 0 && fn_ == sn {
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    len
}

/// How many hashes a consistency proof from `first_size` to `second_size` has
/// (`first_size <= second_size`; 0 when the sizes are equal or `first_size` is 0).
pub fn consistency_proof_len(first_size: u64, second_size: u64) -> usize {
    debug_assert!(first_size <= second_size);
    if first_size == 0 || first_size == second_size {
        return 0;
    }
    // The RFC 9162 §2.1.4.2 loop, counting instead of hashing.
    let mut len = 1; // the first value of the (possibly prepended) path
    let (mut fn_, mut sn) = (first_size - 1, second_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    while sn != 0 {
        len += 1;
        if fn_ & 1 == 0 && fn_ == sn {
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if first_size.is_power_of_two() {
        len -= 1; // the verifier prepends the first root itself
    }
    len
}

/// Verifies that `leaf_hash` is leaf `leaf_index` of the tree of `tree_size` leaves whose
/// root is `root`, with the inclusion `proof` (RFC 9162 §2.1.3.2, step by step).
///
/// Fails with [`MerkleError::LeafIndexOutOfRange`] when `leaf_index >= tree_size` (so always
/// for size 0), [`MerkleError::ProofTooLong`] / [`MerkleError::ProofTooShort`] when the proof
/// does not have [`inclusion_proof_len`] hashes, and [`MerkleError::RootMismatch`] otherwise
/// when anything (leaf, index, proof, root) is not what it should be.
pub fn verify_inclusion(
    leaf_hash: &MerkleHash,
    leaf_index: u64,
    tree_size: u64,
    proof: &[MerkleHash],
    root: &MerkleHash,
) -> Result<(), MerkleError> {
    // 5. ... compare r against the root_hash.
    let computed = root_from_inclusion_proof(leaf_hash, leaf_index, tree_size, proof)?;
    if computed != *root {
        return Err(MerkleError::RootMismatch {
            computed,
            expected: *root,
        });
    }
    Ok(())
}

/// The root an inclusion proof leads to: steps 1 to 5 of RFC 9162 §2.1.3.2 but the final
/// comparison with the root, for a verifier that learns the root elsewhere (a signed
/// checkpoint). Fails as [`verify_inclusion`] does for the index and the proof's length.
pub fn root_from_inclusion_proof(
    leaf_hash: &MerkleHash,
    leaf_index: u64,
    tree_size: u64,
    proof: &[MerkleHash],
) -> Result<MerkleHash, MerkleError> {
    // 1. Compare leaf_index against tree_size; if leaf_index >= tree_size, fail.
    if leaf_index >= tree_size {
        return Err(MerkleError::LeafIndexOutOfRange { leaf_index, tree_size });
    }
    let expected = inclusion_proof_len(leaf_index, tree_size);
    // 2. Set fn to leaf_index and sn to tree_size - 1. 3. Set r to hash.
    let (mut fn_, mut sn) = (leaf_index, tree_size - 1);
    let mut r = *leaf_hash;
    // 4. For each value p in the inclusion_path array:
    for p in proof {
        // a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0 {
            return Err(MerkleError::ProofTooLong {
                expected,
                actual: proof.len(),
            });
        }
        // b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn_ & 1 == 1 || fn_ == sn {
            // i. Set r to HASH(0x01 || p || r).
            r = node_hash(p, &r);
            // ii. If LSB(fn) is not set, then right-shift both fn and sn equally until either
            //     LSB(fn) is set or fn is 0.
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            // Otherwise: i. Set r to HASH(0x01 || r || p).
            r = node_hash(&r, p);
        }
        // c. Finally, right-shift both fn and sn one time.
        fn_ >>= 1;
        sn >>= 1;
    }
    // 5. Compare sn to 0 (and r against the root_hash: the caller's).
    if sn != 0 {
        return Err(MerkleError::ProofTooShort {
            expected,
            actual: proof.len(),
        });
    }
    Ok(r)
}

/// Verifies that the tree of `first_size` leaves with root `first_root` is a prefix of the
/// tree of `second_size` leaves with root `second_root`, with the consistency `proof`
/// (RFC 9162 §2.1.4.2, step by step, for `0 < first_size < second_size`).
///
/// The cases the RFC leaves out: `first_size > second_size` fails
/// ([`MerkleError::FirstSizeAboveSecond`]); `first_size == second_size` needs an empty proof
/// and equal roots; `first_size == 0` needs an empty proof and `first_root == EMPTY_ROOT`
/// (any tree extends the empty one). Otherwise the proof must have
/// [`consistency_proof_len`] hashes ([`MerkleError::ProofTooLong`] /
/// [`MerkleError::ProofTooShort`]; an empty proof is always too short here) and lead to both
/// roots ([`MerkleError::FirstRootMismatch`], [`MerkleError::RootMismatch`]; when
/// `first_size` is a power of two the RFC puts `first_root` itself at the start of the path,
/// so a wrong first root shows as [`MerkleError::RootMismatch`]).
///
/// Unlike transparency-dev's `VerifyConsistency`, `first_size == 0` does not accept any
/// first root: the root of the empty tree is defined (`MTH({})`, [`EMPTY_ROOT`]).
pub fn verify_consistency(
    first_size: u64,
    second_size: u64,
    first_root: &MerkleHash,
    second_root: &MerkleHash,
    proof: &[MerkleHash],
) -> Result<(), MerkleError> {
    if first_size > second_size {
        return Err(MerkleError::FirstSizeAboveSecond {
            first_size,
            second_size,
        });
    }
    let expected = consistency_proof_len(first_size, second_size);
    if first_size == 0 || first_size == second_size {
        if !proof.is_empty() {
            return Err(MerkleError::ProofTooLong {
                expected,
                actual: proof.len(),
            });
        }
        let first_expected = if first_size == 0 { &EMPTY_ROOT } else { second_root };
        if first_root != first_expected {
            return Err(MerkleError::FirstRootMismatch {
                computed: *first_expected,
                expected: *first_root,
            });
        }
        return Ok(());
    }
    // 1. If consistency_path is an empty array, stop and fail the proof verification.
    if proof.is_empty() {
        return Err(MerkleError::ProofTooShort { expected, actual: 0 });
    }
    // 2. If first is an exact power of 2, then prepend first_hash to the consistency_path array.
    let prepended = first_size.is_power_of_two();
    let mut path = proof.iter();
    let first_value = if prepended {
        first_root
    } else {
        path.next().unwrap_or(first_root) // not empty: checked above
    };
    // 3. Set fn to first - 1 and sn to second - 1.
    let (mut fn_, mut sn) = (first_size - 1, second_size - 1);
    // 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // 5. Set both fr and sr to the first value in the consistency_path array.
    let (mut fr, mut sr) = (*first_value, *first_value);
    // 6. For each subsequent value c in the consistency_path array:
    for c in path {
        // a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0 {
            return Err(MerkleError::ProofTooLong {
                expected,
                actual: proof.len(),
            });
        }
        // b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn_ & 1 == 1 || fn_ == sn {
            // i. Set fr to HASH(0x01 || c || fr). ii. Set sr to HASH(0x01 || c || sr).
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            // iii. If LSB(fn) is not set, then right-shift both fn and sn equally until either
            //      LSB(fn) is set or fn is 0.
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            // Otherwise: i. Set sr to HASH(0x01 || sr || c).
            sr = node_hash(&sr, c);
        }
        // c. Finally, right-shift both fn and sn one time.
        fn_ >>= 1;
        sn >>= 1;
    }
    // 7. Verify that fr equals first_hash, sr equals second_hash, and sn is 0.
    if sn != 0 {
        return Err(MerkleError::ProofTooShort {
            expected,
            actual: proof.len(),
        });
    }
    if fr != *first_root {
        return Err(MerkleError::FirstRootMismatch {
            computed: fr,
            expected: *first_root,
        });
    }
    if sr != *second_root {
        return Err(MerkleError::RootMismatch {
            computed: sr,
            expected: *second_root,
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Generation, against a reader of perfect subtrees.
// ---------------------------------------------------------------------------------------------

/// `MTH(D[start:start+len])` for a range the RFC 6962 recursion produces (`start` a multiple
/// of the smallest power of two `>= len`), `len >= 1`: the right fold of the perfect subtrees
/// of `len`'s binary decomposition, largest first. `popcount(len)` reads.
fn range_root<E>(
    start: u64,
    len: u64,
    node: &mut impl FnMut(u32, u64) -> Result<MerkleHash, E>,
) -> Result<MerkleHash, E> {
    debug_assert!(len >= 1);
    // Walk the set bits of len from the lowest (rightmost subtree) up, folding to the left.
    let end = start + len;
    let mut remaining = len;
    let mut acc: Option<MerkleHash> = None;
    let mut right_end = end;
    while remaining != 0 {
        let level = remaining.trailing_zeros();
        let width = 1u64 << level;
        let subtree_start = right_end - width;
        let subtree = node(level, subtree_start >> level)?;
        acc = Some(match acc {
            None => subtree,
            Some(right) => node_hash(&subtree, &right),
        });
        right_end = subtree_start;
        remaining &= remaining - 1;
    }
    Ok(acc.unwrap_or(EMPTY_ROOT))
}

/// The root of the tree of `tree_size` leaves from perfect-subtree reads: [`EMPTY_ROOT`] for
/// 0, else `popcount(tree_size)` reads of `node(level, index)` (see the module docs).
pub fn root_with<E>(tree_size: u64, mut node: impl FnMut(u32, u64) -> Result<MerkleHash, E>) -> Result<MerkleHash, E> {
    if tree_size == 0 {
        return Ok(EMPTY_ROOT);
    }
    range_root(0, tree_size, &mut node)
}

/// The inclusion proof `PATH(leaf_index, D[0:tree_size])` (RFC 6962 §2.1.1) from
/// perfect-subtree reads; at most `2 * log2(tree_size)` reads. Needs
/// `leaf_index < tree_size` (panics in debug builds otherwise).
pub fn inclusion_proof_with<E>(
    leaf_index: u64,
    tree_size: u64,
    mut node: impl FnMut(u32, u64) -> Result<MerkleHash, E>,
) -> Result<Vec<MerkleHash>, E> {
    debug_assert!(leaf_index < tree_size);
    let mut proof = Vec::with_capacity(inclusion_proof_len(leaf_index, tree_size));
    // Descend from the root; the path is collected top-down and reversed at the end.
    let (mut start, mut len, mut m) = (0u64, tree_size, leaf_index);
    while len > 1 {
        let k = largest_power_of_two_below(len);
        if m < k {
            proof.push(range_root(start + k, len - k, &mut node)?);
            len = k;
        } else {
            proof.push(range_root(start, k, &mut node)?);
            start += k;
            len -= k;
            m -= k;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// The consistency proof `PROOF(first_size, D[0:second_size])` (RFC 6962 §2.1.2) from
/// perfect-subtree reads; at most `2 * log2(second_size) + 1` reads. Empty when
/// `first_size` is 0 or equals `second_size`. Needs `first_size <= second_size`.
pub fn consistency_proof_with<E>(
    first_size: u64,
    second_size: u64,
    mut node: impl FnMut(u32, u64) -> Result<MerkleHash, E>,
) -> Result<Vec<MerkleHash>, E> {
    debug_assert!(first_size <= second_size);
    if first_size == 0 || first_size == second_size {
        return Ok(Vec::new());
    }
    let mut proof = Vec::with_capacity(consistency_proof_len(first_size, second_size));
    // SUBPROOF(m, D[start:start+len], b), iteratively; collected top-down, reversed at the end.
    let (mut start, mut len, mut m, mut whole) = (0u64, second_size, first_size, true);
    loop {
        if m == len {
            if !whole {
                proof.push(range_root(start, len, &mut node)?);
            }
            break;
        }
        let k = largest_power_of_two_below(len);
        if m <= k {
            proof.push(range_root(start + k, len - k, &mut node)?);
            len = k;
        } else {
            proof.push(range_root(start, k, &mut node)?);
            start += k;
            len -= k;
            m -= k;
            whole = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// The hash of the perfect subtree `(level, index)` computed from all leaf hashes: the
/// in-memory node reader for [`root_with`], [`inclusion_proof_with`] and
/// [`consistency_proof_with`] (tests, small trees). `2^level - 1` node hashes; panics if
/// the subtree does not lie within `leaf_hashes`.
pub fn perfect_subtree_from_leaf_hashes(leaf_hashes: &[MerkleHash], level: u32, index: u64) -> MerkleHash {
    let width = 1usize << level;
    let start = index as usize * width;
    root_from_leaf_hashes(&leaf_hashes[start..start + width])
}

#[cfg(test)]
mod tests {
    //! Known answers from the transparency-dev/merkle test data (`testonly/constants.go`,
    //! `proof/verify_test.go`, `proof/proof_test.go`), the reference definitions of RFC 6962
    //! over slices, and the ways a proof can be wrong.

    use super::*;

    fn h(hex: &str) -> MerkleHash {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        bytes.try_into().expect("32 bytes")
    }

    fn bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// The 8 leaf inputs of transparency-dev `testonly.LeafInputs()`.
    fn leaf_inputs() -> Vec<Vec<u8>> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|hex| bytes(hex))
        .collect()
    }

    fn known_leaf_hashes() -> Vec<MerkleHash> {
        leaf_inputs().iter().map(|data| leaf_hash(data)).collect()
    }

    /// `testonly.RootHashes()`: roots of the trees of sizes 0..=8.
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// `testonly.NodeHashes()`: (level, index, hash) of every perfect subtree of the 8 leaves.
    const NODES: [(u32, u64, &str); 15] = [
        (0, 0, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        (0, 1, "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        (0, 2, "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        (0, 3, "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        (0, 4, "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        (0, 5, "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        (0, 6, "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        (0, 7, "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
        (1, 0, "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        (1, 1, "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        (1, 2, "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        (1, 3, "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        (2, 0, "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        (2, 1, "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        (3, 0, "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
    ];

    /// `proof/verify_test.go` `inclusionProofs` (leaf index made 0-based): (index, size, proof).
    const INCLUSION: [(u64, u64, &[&str]); 5] = [
        (0, 1, &[]),
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];

    /// `proof/verify_test.go` `consistencyProofs`: (first size, second size, proof).
    const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    fn proof_of(hexes: &[&str]) -> Vec<MerkleHash> {
        hexes.iter().map(|hex| h(hex)).collect()
    }

    fn from_leaves(leaves: &[MerkleHash]) -> impl FnMut(u32, u64) -> Result<MerkleHash, ()> + '_ {
        |level, index| Ok(perfect_subtree_from_leaf_hashes(leaves, level, index))
    }

    /// RFC 6962 §2.1.1 `PATH(m, D[n])`, straight from the definition.
    fn reference_path(m: usize, leaves: &[MerkleHash]) -> Vec<MerkleHash> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = largest_power_of_two_below(n as u64) as usize;
        if m < k {
            let mut path = reference_path(m, &leaves[..k]);
            path.push(root_from_leaf_hashes(&leaves[k..]));
            path
        } else {
            let mut path = reference_path(m - k, &leaves[k..]);
            path.push(root_from_leaf_hashes(&leaves[..k]));
            path
        }
    }

    /// RFC 6962 §2.1.2 `SUBPROOF(m, D[n], b)`, straight from the definition.
    fn reference_subproof(m: usize, leaves: &[MerkleHash], whole: bool) -> Vec<MerkleHash> {
        let n = leaves.len();
        if m == n {
            return if whole {
                Vec::new()
            } else {
                vec![root_from_leaf_hashes(leaves)]
            };
        }
        let k = largest_power_of_two_below(n as u64) as usize;
        if m <= k {
            let mut proof = reference_subproof(m, &leaves[..k], whole);
            proof.push(root_from_leaf_hashes(&leaves[k..]));
            proof
        } else {
            let mut proof = reference_subproof(m - k, &leaves[k..], false);
            proof.push(root_from_leaf_hashes(&leaves[..k]));
            proof
        }
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        let digest: MerkleHash = Sha256::digest([]).into();
        assert_eq!(EMPTY_ROOT, digest);
        assert_eq!(root_from_leaf_hashes(&[]), EMPTY_ROOT);
        assert_eq!(root_with(0, from_leaves(&[])), Ok(EMPTY_ROOT));
    }

    #[test]
    fn known_answers_for_nodes_and_roots() {
        let leaves = known_leaf_hashes();
        for (level, index, hash) in NODES {
            assert_eq!(
                perfect_subtree_from_leaf_hashes(&leaves, level, index),
                h(hash),
                "node ({level}, {index})"
            );
        }
        for (size, root) in ROOTS.iter().enumerate() {
            assert_eq!(root_from_leaf_hashes(&leaves[..size]), h(root), "root of size {size}");
            assert_eq!(
                root_with(size as u64, from_leaves(&leaves)),
                Ok(h(root)),
                "root_with({size})"
            );
        }
    }

    #[test]
    fn known_answers_for_inclusion_proofs() {
        let leaves = known_leaf_hashes();
        for (index, size, hexes) in INCLUSION {
            let expected = proof_of(hexes);
            let generated = inclusion_proof_with(index, size, from_leaves(&leaves));
            assert_eq!(generated, Ok(expected.clone()), "proof of {index} in {size}");
            let root = h(ROOTS[size as usize]);
            assert_eq!(
                verify_inclusion(&leaves[index as usize], index, size, &expected, &root),
                Ok(()),
                "{index} in {size}"
            );
            assert_eq!(
                root_from_inclusion_proof(&leaves[index as usize], index, size, &expected),
                Ok(root)
            );
        }
    }

    #[test]
    fn known_answers_for_consistency_proofs() {
        let leaves = known_leaf_hashes();
        for (first, second, hexes) in CONSISTENCY {
            let expected = proof_of(hexes);
            let generated = consistency_proof_with(first, second, from_leaves(&leaves));
            assert_eq!(generated, Ok(expected.clone()), "proof {first} -> {second}");
            let (first_root, second_root) = (h(ROOTS[first as usize]), h(ROOTS[second as usize]));
            assert_eq!(
                verify_consistency(first, second, &first_root, &second_root, &expected),
                Ok(()),
                "{first} -> {second}"
            );
        }
    }

    /// Proof lengths of the node lists in transparency-dev `proof/proof_test.go` (a "rehash"
    /// of `begin..end` ids makes them one hash).
    #[test]
    fn proof_lengths_match_transparency_dev() {
        let inclusion: [(u64, u64, usize); 11] = [
            (0, 1, 0),
            (0, 2, 1),
            (1, 3, 2),
            (0, 7, 3),
            (4, 7, 3),
            (6, 7, 2),
            (3, 5, 3),
            (4, 6, 2),
            (10, 15, 4),
            (24, 31, 5),
            (81, 95, 6),
        ];
        for (index, size, len) in inclusion {
            assert_eq!(inclusion_proof_len(index, size), len, "inclusion {index} in {size}");
        }
        let consistency: [(u64, u64, usize); 16] = [
            (1, 2, 1),
            (1, 4, 2),
            (1, 6, 3),
            (2, 3, 1),
            (2, 8, 2),
            (3, 7, 4),
            (4, 7, 1),
            (5, 7, 4),
            (6, 7, 3),
            (7, 8, 4),
            (3, 5, 4),
            (4, 6, 1),
            (1, 7, 3),
            (10, 15, 4),
            (24, 31, 3),
            (81, 95, 7),
        ];
        for (first, second, len) in consistency {
            assert_eq!(
                consistency_proof_len(first, second),
                len,
                "consistency {first} -> {second}"
            );
        }
        for size in [0, 1, 2, 7, 8] {
            assert_eq!(consistency_proof_len(size, size), 0);
            assert_eq!(consistency_proof_len(0, size), 0);
        }
    }

    /// The writer's frontier (`tree.rs`) completes exactly the known nodes, leaf by leaf,
    /// and its root is the known root at every size.
    #[test]
    fn the_writers_frontier_completes_the_known_nodes() {
        let mut frontier = crate::tree::Frontier::empty();
        assert_eq!(frontier.root(), EMPTY_ROOT);
        let mut completed = Vec::new();
        for (leaf_index, leaf) in (0u64..).zip(known_leaf_hashes()) {
            assert_eq!(frontier.push(&leaf, &mut completed), leaf_index);
            let expected: Vec<u8> = NODES
                .iter()
                .filter(|(level, index, _)| *level >= 1 && ((index + 1) << level) - 1 == leaf_index)
                .flat_map(|(_, _, hash)| h(hash))
                .collect();
            assert_eq!(completed, expected, "nodes completed by leaf {leaf_index}");
            assert_eq!(
                frontier.root(),
                h(ROOTS[leaf_index as usize + 1]),
                "root after leaf {leaf_index}"
            );
        }
    }

    /// Node reads of a root and of each proof stay O(log n), up to 10,000,000 leaves and
    /// beyond: a root reads popcount(n) nodes, a proof at most 2 * log2(n) + 1.
    #[test]
    fn roots_and_proofs_read_logarithmically_many_nodes() {
        let sizes = [
            1u64,
            2,
            3,
            1000,
            1023,
            1024,
            1025,
            9_999_999,
            10_000_000,
            (1 << 40) - 1,
            1 << 40,
        ];
        for n in sizes {
            let bound = 2 * (64 - n.leading_zeros()) as usize + 1;
            let mut reads = 0usize;
            let mut count = |_: u32, _: u64| -> Result<MerkleHash, ()> {
                reads += 1;
                Ok(EMPTY_ROOT)
            };
            root_with(n, &mut count).expect("counting");
            assert_eq!(reads, n.count_ones() as usize, "root of {n}");
            for probe in [0, 1, n / 3, n / 2, n - 1] {
                let (index, m) = (probe.min(n - 1), probe.min(n));
                let mut reads = 0usize;
                let proof = inclusion_proof_with(index, n, |_, _| -> Result<MerkleHash, ()> {
                    reads += 1;
                    Ok(EMPTY_ROOT)
                })
                .expect("counting");
                assert_eq!(proof.len(), inclusion_proof_len(index, n));
                assert!(reads <= bound, "inclusion {index} in {n}: {reads} reads");
                let mut reads = 0usize;
                let proof = consistency_proof_with(m, n, |_, _| -> Result<MerkleHash, ()> {
                    reads += 1;
                    Ok(EMPTY_ROOT)
                })
                .expect("counting");
                assert_eq!(proof.len(), consistency_proof_len(m, n));
                assert!(reads <= bound, "consistency {m} -> {n}: {reads} reads");
            }
        }
    }

    /// What a root or a proof costs the log, which stores the nodes of the levels
    /// `>= MIN_STORED_LEVEL` (4) and computes those below from their `2^level` records (one
    /// read each): (stored node reads, reads of records, records read).
    fn reads_from_the_log(
        generate: impl FnOnce(&mut dyn FnMut(u32, u64) -> Result<MerkleHash, ()>),
    ) -> (usize, usize, u64) {
        let (mut stored, mut record_reads, mut records) = (0, 0, 0);
        generate(&mut |level, _| {
            if level >= crate::layout::MIN_STORED_LEVEL {
                stored += 1;
            } else {
                record_reads += 1;
                records += 1 << level;
            }
            Ok(EMPTY_ROOT)
        });
        (stored, record_reads, records)
    }

    /// With the levels below 4 computed from the records, a root still reads at most 15
    /// records (in at most 4 reads), an inclusion proof at most 30 (8 reads) and a
    /// consistency proof at most 31 (9 reads), whatever the size: every size up to 300 with
    /// every leaf and first size, and large sizes at many points.
    #[test]
    fn below_the_stored_levels_proofs_read_a_few_dozen_records() {
        let mut worst = [(0usize, 0usize, 0u64); 3];
        let mut note = |which: usize, n: u64, (stored, record_reads, records): (usize, usize, u64)| {
            let bound = 2 * (64 - n.leading_zeros()) as usize + 1;
            assert!(
                stored + record_reads <= bound,
                "{which} of {n}: {stored} + {record_reads} reads"
            );
            let worst = &mut worst[which];
            *worst = (worst.0.max(stored), worst.1.max(record_reads), worst.2.max(records));
        };
        let large = [1000u64, 1023, 1024, 1025, 9_999_999, 10_000_000, (1 << 40) - 1, 1 << 40];
        for n in (1u64..=300).chain(large) {
            let probes: Vec<u64> = if n <= 300 {
                (0..n).collect()
            } else {
                (0..2000u64)
                    .map(|k| k.wrapping_mul(0x9e37_79b9_7f4a_7c15) % n)
                    .chain([0, n - 1])
                    .collect()
            };
            note(
                0,
                n,
                reads_from_the_log(|node| {
                    root_with(n, node).expect("counting");
                }),
            );
            for m in probes {
                note(
                    1,
                    n,
                    reads_from_the_log(|node| {
                        inclusion_proof_with(m, n, node).expect("counting");
                    }),
                );
                note(
                    2,
                    n,
                    reads_from_the_log(|node| {
                        consistency_proof_with(m, n, node).expect("counting");
                    }),
                );
            }
        }
        let [root, inclusion, consistency] = worst;
        assert!(root.1 <= 4 && root.2 <= 15, "root: {root:?}");
        assert!(inclusion.1 <= 8 && inclusion.2 <= 30, "inclusion: {inclusion:?}");
        assert!(
            consistency.1 <= 9 && consistency.2 <= 31,
            "consistency: {consistency:?}"
        );
    }

    /// Generation from perfect subtrees agrees with the RFC 6962 definitions, every proof
    /// verifies, and has the length the verifier expects.
    #[test]
    fn generated_proofs_match_the_definitions_and_verify() {
        let leaves: Vec<MerkleHash> = (0u32..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for n in 0..=leaves.len() {
            let tree = &leaves[..n];
            let root = root_from_leaf_hashes(tree);
            assert_eq!(root_with(n as u64, from_leaves(tree)), Ok(root), "root {n}");
            for m in 0..n {
                let proof = inclusion_proof_with(m as u64, n as u64, from_leaves(tree)).expect("in memory");
                assert_eq!(proof, reference_path(m, tree), "PATH({m}, {n})");
                assert_eq!(proof.len(), inclusion_proof_len(m as u64, n as u64));
                assert_eq!(verify_inclusion(&tree[m], m as u64, n as u64, &proof, &root), Ok(()));
            }
            for m in 0..=n {
                let proof = consistency_proof_with(m as u64, n as u64, from_leaves(tree)).expect("in memory");
                if m > 0 && m < n {
                    assert_eq!(proof, reference_subproof(m, tree, true), "PROOF({m}, {n})");
                } else {
                    assert!(proof.is_empty());
                }
                assert_eq!(proof.len(), consistency_proof_len(m as u64, n as u64));
                let first_root = root_from_leaf_hashes(&leaves[..m]);
                assert_eq!(
                    verify_consistency(m as u64, n as u64, &first_root, &root, &proof),
                    Ok(()),
                    "{m} -> {n}"
                );
            }
        }
    }

    /// The result an inclusion probe must give: `Ok` or an error variant's name.
    /// (what, leaf hash, index, size, proof, root).
    type InclusionProbe = (String, MerkleHash, u64, u64, Vec<MerkleHash>, MerkleHash);
    /// (what, first size, second size, first root, second root, proof).
    type ConsistencyProbe = (String, u64, u64, MerkleHash, MerkleHash, Vec<MerkleHash>);

    /// The one data-driven check: `result` is `Ok` when `expected` is `None`, else the error
    /// variant named `expected`.
    fn check(what: &str, result: Result<(), MerkleError>, expected: Option<&str>) {
        match (expected, &result) {
            (None, Ok(())) => {}
            (Some(variant), Err(error)) if format!("{error:?}").starts_with(variant) => {}
            _ => panic!("{what}: expected {expected:?}, got {result:?}"),
        }
    }

    #[test]
    fn inclusion_edge_cases() {
        let some = h("abacaba000000000000000000000000000000000000000000060061e00123456");
        for (index, size) in [(0, 0), (1, 0), (2, 1), (1, 1), (8, 8)] {
            let result = verify_inclusion(&some, index, size, &[], &EMPTY_ROOT);
            check("index out of range", result, Some("LeafIndexOutOfRange"));
        }
        let one = leaf_hash(b"data");
        let leaves = known_leaf_hashes();
        let root = h(ROOTS[8]);
        let cases = [
            ("single leaf", verify_inclusion(&one, 0, 1, &[], &one), None),
            (
                "single leaf, wrong root",
                verify_inclusion(&one, 0, 1, &[], &some),
                Some("RootMismatch"),
            ),
            (
                "single leaf, proof too long",
                verify_inclusion(&one, 0, 1, &[one], &one),
                Some("ProofTooLong"),
            ),
            (
                "empty proof for 8 leaves",
                verify_inclusion(&leaves[3], 3, 8, &[], &root),
                Some("ProofTooShort"),
            ),
        ];
        for (what, result, expected) in cases {
            check(what, result, expected);
        }
    }

    /// Every way to spoil a good inclusion proof (after transparency-dev's
    /// `corruptInclusionProof`, plus every flipped byte) is rejected.
    #[test]
    fn spoiled_inclusion_proofs_are_rejected() {
        let leaves: Vec<MerkleHash> = (0u32..21).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let some = h("abacaba000000000000000000000000000000000000000000060061e00123456");
        for n in 1..=leaves.len() as u64 {
            let root = root_from_leaf_hashes(&leaves[..n as usize]);
            for m in 0..n {
                let leaf = leaves[m as usize];
                let proof = inclusion_proof_with(m, n, from_leaves(&leaves)).expect("in memory");
                let mut probes: Vec<InclusionProbe> = vec![
                    ("index - 1".into(), leaf, m.wrapping_sub(1), n, proof.clone(), root),
                    ("index + 1".into(), leaf, m + 1, n, proof.clone(), root),
                    ("index ^ 2".into(), leaf, m ^ 2, n, proof.clone(), root),
                    ("size * 2".into(), leaf, m, n * 2, proof.clone(), root),
                    ("size / 2".into(), leaf, m, n / 2, proof.clone(), root),
                    ("wrong leaf".into(), some, m, n, proof.clone(), root),
                    ("empty root".into(), leaf, m, n, proof.clone(), EMPTY_ROOT),
                    ("some root".into(), leaf, m, n, proof.clone(), some),
                    ("trailing root".into(), leaf, m, n, [&proof[..], &[root]].concat(), root),
                    (
                        "preceding root".into(),
                        leaf,
                        m,
                        n,
                        [&[root], &proof[..]].concat(),
                        root,
                    ),
                ];
                if !proof.is_empty() {
                    probes.push((
                        "removed last".into(),
                        leaf,
                        m,
                        n,
                        proof[..proof.len() - 1].to_vec(),
                        root,
                    ));
                    probes.push(("empty proof".into(), leaf, m, n, Vec::new(), root));
                }
                if proof.len() > 1 {
                    let inserted = [&proof[..1], &[some], &proof[1..]].concat();
                    probes.push(("inserted".into(), leaf, m, n, inserted, root));
                }
                for i in 0..proof.len() {
                    for byte in 0..32 {
                        let mut spoiled = proof.clone();
                        spoiled[i][byte] ^= 1 << (byte % 8);
                        probes.push((format!("proof[{i}] byte {byte}"), leaf, m, n, spoiled, root));
                    }
                }
                for byte in 0..32 {
                    let (mut bad_leaf, mut bad_root) = (leaf, root);
                    bad_leaf[byte] ^= 0x80;
                    bad_root[byte] ^= 0x01;
                    probes.push((format!("leaf byte {byte}"), bad_leaf, m, n, proof.clone(), root));
                    probes.push((format!("root byte {byte}"), leaf, m, n, proof.clone(), bad_root));
                }
                // The same proof for another index of the same tree.
                for other in (0..n).filter(|&other| other != m) {
                    let other_leaf = leaves[other as usize];
                    probes.push((format!("reused for {other}"), other_leaf, other, n, proof.clone(), root));
                    probes.push((format!("reused for index {other}"), leaf, other, n, proof.clone(), root));
                }
                for (what, leaf, index, size, proof, root) in probes {
                    let result = verify_inclusion(&leaf, index, size, &proof, &root);
                    assert!(result.is_err(), "{m} in {n}, {what}: accepted");
                }
            }
        }
    }

    #[test]
    fn consistency_edge_cases() {
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        let (c, d) = (leaf_hash(b"c"), leaf_hash(b"d"));
        let ab = node_hash(&a, &b);
        let abc = node_hash(&ab, &c);
        let abcd = node_hash(&ab, &node_hash(&c, &d));
        let cases = [
            ("0 -> 0", verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[]), None),
            ("0 -> 5", verify_consistency(0, 5, &EMPTY_ROOT, &b, &[]), None),
            (
                "0 -> 5, first root not empty",
                verify_consistency(0, 5, &a, &b, &[]),
                Some("FirstRootMismatch"),
            ),
            (
                "0 -> 5, a proof",
                verify_consistency(0, 5, &EMPTY_ROOT, &b, &[a]),
                Some("ProofTooLong"),
            ),
            (
                "0 -> 0, a proof",
                verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[a]),
                Some("ProofTooLong"),
            ),
            ("1 -> 1", verify_consistency(1, 1, &a, &a, &[]), None),
            (
                "1 -> 1, roots differ",
                verify_consistency(1, 1, &a, &b, &[]),
                Some("FirstRootMismatch"),
            ),
            (
                "1 -> 1, a proof",
                verify_consistency(1, 1, &a, &a, &[a]),
                Some("ProofTooLong"),
            ),
            (
                "1 -> 0",
                verify_consistency(1, 0, &a, &b, &[]),
                Some("FirstSizeAboveSecond"),
            ),
            (
                "2 -> 1",
                verify_consistency(2, 1, &a, &b, &[]),
                Some("FirstSizeAboveSecond"),
            ),
            (
                "1 -> 2, empty proof",
                verify_consistency(1, 2, &a, &ab, &[]),
                Some("ProofTooShort"),
            ),
            ("1 -> 2", verify_consistency(1, 2, &a, &ab, &[b]), None),
            (
                "1 -> 2, proof too long",
                verify_consistency(1, 2, &a, &ab, &[b, b]),
                Some("ProofTooLong"),
            ),
            // A first size that is a power of two: the first root is prepended to the path,
            // so a wrong one leads to a wrong second root.
            (
                "1 -> 2, wrong first root",
                verify_consistency(1, 2, &b, &ab, &[b]),
                Some("RootMismatch"),
            ),
            ("3 -> 4", verify_consistency(3, 4, &abc, &abcd, &[c, d, ab]), None),
            (
                "3 -> 4, wrong first root",
                verify_consistency(3, 4, &ab, &abcd, &[c, d, ab]),
                Some("FirstRootMismatch"),
            ),
            (
                "3 -> 4, wrong second root",
                verify_consistency(3, 4, &abc, &abc, &[c, d, ab]),
                Some("RootMismatch"),
            ),
            (
                "1 -> 2, wrong second root",
                verify_consistency(1, 2, &a, &b, &[b]),
                Some("RootMismatch"),
            ),
        ];
        for (what, result, expected) in cases {
            check(what, result, expected);
        }
    }

    /// Every way to spoil a good consistency proof (after transparency-dev's
    /// `corruptConsistencyProof`, plus every flipped byte) is rejected.
    #[test]
    fn spoiled_consistency_proofs_are_rejected() {
        let leaves: Vec<MerkleHash> = (0u32..21).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let some = h("abacaba000000000000000000000000000000000000000000060061e00123456");
        for n in 2..=leaves.len() as u64 {
            let root2 = root_from_leaf_hashes(&leaves[..n as usize]);
            for m in 1..n {
                let root1 = root_from_leaf_hashes(&leaves[..m as usize]);
                let proof = consistency_proof_with(m, n, from_leaves(&leaves)).expect("in memory");
                let mut probes: Vec<ConsistencyProbe> = vec![
                    ("size1 - 1".into(), m - 1, n, root1, root2, proof.clone()),
                    ("size1 + 1".into(), m + 1, n, root1, root2, proof.clone()),
                    ("size1 ^ 2".into(), m ^ 2, n, root1, root2, proof.clone()),
                    ("size2 * 2".into(), m, n * 2, root1, root2, proof.clone()),
                    ("size2 / 2".into(), m, n / 2, root1, root2, proof.clone()),
                    ("wrong root1".into(), m, n, some, root2, proof.clone()),
                    ("wrong root2".into(), m, n, root1, some, proof.clone()),
                    ("swapped roots".into(), m, n, root2, root1, proof.clone()),
                    ("empty proof".into(), m, n, root1, root2, Vec::new()),
                    (
                        "trailing root1".into(),
                        m,
                        n,
                        root1,
                        root2,
                        [&proof[..], &[root1]].concat(),
                    ),
                    (
                        "trailing root2".into(),
                        m,
                        n,
                        root1,
                        root2,
                        [&proof[..], &[root2]].concat(),
                    ),
                    (
                        "preceding root1".into(),
                        m,
                        n,
                        root1,
                        root2,
                        [&[root1], &proof[..]].concat(),
                    ),
                    (
                        "preceding root2".into(),
                        m,
                        n,
                        root1,
                        root2,
                        [&[root2], &proof[..]].concat(),
                    ),
                    (
                        "preceding proof[0]".into(),
                        m,
                        n,
                        root1,
                        root2,
                        [&proof[..1], &proof[..]].concat(),
                    ),
                    (
                        "truncated".into(),
                        m,
                        n,
                        root1,
                        root2,
                        proof[..proof.len() - 1].to_vec(),
                    ),
                ];
                for i in 0..proof.len() {
                    for byte in 0..32 {
                        let mut spoiled = proof.clone();
                        spoiled[i][byte] ^= 1 << (byte % 8);
                        probes.push((format!("proof[{i}] byte {byte}"), m, n, root1, root2, spoiled));
                    }
                }
                for byte in 0..32 {
                    let (mut bad1, mut bad2) = (root1, root2);
                    bad1[byte] ^= 0x10;
                    bad2[byte] ^= 0x10;
                    probes.push((format!("root1 byte {byte}"), m, n, bad1, root2, proof.clone()));
                    probes.push((format!("root2 byte {byte}"), m, n, root1, bad2, proof.clone()));
                }
                for (what, first, second, first_root, second_root, proof) in probes {
                    let result = verify_consistency(first, second, &first_root, &second_root, &proof);
                    assert!(result.is_err(), "{m} -> {n}, {what}: accepted");
                }
            }
        }
    }
}
