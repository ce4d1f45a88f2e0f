//! Project ownership by rendezvous (highest random weight) hashing.
//!
//! Every node computes, for a project, one weight per peer and the peer with
//! the highest weight owns the project. The weight is
//!
//! ```text
//! weight(peer, project) = u64::from_be_bytes(sha256(peer_id ‖ 0x00 ‖ project_be)[0..8])
//! ```
//!
//! where `peer_id` is the peer's id as UTF-8 bytes, `0x00` a separator (ids
//! cannot contain it, see `cluster.node_id` validation), and `project_be`
//! the project id as 8 bytes big-endian. A tie (two 64-bit weights equal,
//! which needs a sha256 prefix collision) goes to the smaller id. Nothing
//! here depends on the order of the peer list, the platform or the Rust
//! version, so every node and every release agree; the function is pinned
//! by a test with fixed vectors, and changing it moves projects between
//! nodes, so it must never change.
//!
//! Adding a peer moves exactly the projects the new peer wins (about 1/N
//! of them, all to the new peer); removing a peer moves only its own
//! projects, each to the peer that had the second-highest weight.

use sha2::{Digest, Sha256};
use stackherd::settings::ClusterSettings;
use std::fmt;
use thiserror::Error;

/// Id of the only node of a cluster configured without peers.
pub const SINGLE_NODE_ID: &str = "local";

/// One node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Peer {
    /// Stable id (`n1`, `stackherd-0`); the rendezvous weights hash it, so
    /// renaming a node moves its projects.
    pub id: String,
    /// Base URL other nodes call it at (`http://n1:9091`), without a
    /// trailing `/`.
    pub url: String,
}

impl Peer {
    pub fn new(id: impl Into<String>, url: impl Into<String>) -> Peer {
        let url: String = url.into();
        Peer {
            id: id.into(),
            url: url.trim_end_matches('/').to_string(),
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.id, self.url)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RingError {
    #[error("the peer list is empty")]
    NoPeers,
    #[error("peer id `{0}` appears more than once")]
    DuplicatePeer(String),
    #[error("peer id `{0}` is empty or contains a NUL byte")]
    InvalidPeerId(String),
    #[error("this node's id `{local}` is not one of the peers ({peers})")]
    LocalNotAPeer { local: String, peers: String },
}

/// Which node owns each project, as every node computes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ring {
    /// Sorted by id, so that equal peer sets give equal rings.
    peers: Vec<Peer>,
    /// Index of this node in `peers`.
    local: usize,
}

impl Ring {
    /// A ring over `peers` seen from the node `local_id` (one of them).
    pub fn new(mut peers: Vec<Peer>, local_id: &str) -> Result<Ring, RingError> {
        if peers.is_empty() {
            return Err(RingError::NoPeers);
        }
        if let Some(bad) = peers
            .iter()
            .find(|peer| peer.id.is_empty() || peer.id.contains('\0'))
        {
            return Err(RingError::InvalidPeerId(bad.id.clone()));
        }
        peers.sort();
        if let Some(pair) = peers.windows(2).find(|pair| pair[0].id == pair[1].id) {
            return Err(RingError::DuplicatePeer(pair[0].id.clone()));
        }
        let local = peers
            .iter()
            .position(|peer| peer.id == local_id)
            .ok_or_else(|| RingError::LocalNotAPeer {
                local: local_id.to_string(),
                peers: peers
                    .iter()
                    .map(|peer| peer.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        Ok(Ring { peers, local })
    }

    /// A one-node ring: this node owns every project. `url` is where it
    /// listens (only used in messages).
    pub fn single(node_id: &str, url: &str) -> Ring {
        let id = if node_id.is_empty() || node_id.contains('\0') {
            SINGLE_NODE_ID
        } else {
            node_id
        };
        Ring {
            peers: vec![Peer::new(id, url)],
            local: 0,
        }
    }

    /// The ring the `[cluster]` settings describe (validated settings: the
    /// node id is among the peers). No peers gives a one-node ring.
    pub fn from_settings(settings: &ClusterSettings, listen_url: &str) -> Result<Ring, RingError> {
        if settings.peers.is_empty() {
            return Ok(Ring::single(&settings.node_id, listen_url));
        }
        let peers = settings
            .peers
            .iter()
            .map(|peer| Peer::new(&peer.id, &peer.url))
            .collect();
        Ring::new(peers, &settings.node_id)
    }

    /// The owner of `project`: the peer with the highest weight.
    pub fn owner(&self, project: u64) -> &Peer {
        let mut best = &self.peers[0];
        let mut best_weight = weight(&best.id, project);
        // `peers` is sorted by id, so on a tie the earlier (smaller) id stays.
        for peer in &self.peers[1..] {
            let w = weight(&peer.id, project);
            if w > best_weight {
                best = peer;
                best_weight = w;
            }
        }
        best
    }

    /// Whether this node owns `project`.
    pub fn is_local(&self, project: u64) -> bool {
        self.owner(project).id == self.local().id
    }

    /// Nodes that might hold data of `project`: the owner first, then every
    /// other node. Under this ring only the owner stores a project's data,
    /// but a node may have owned it under an earlier peer list (data does
    /// not move when ownership does), and a static ring does not remember
    /// earlier lists, so the honest answer is every node. Deletions go to
    /// all of them.
    pub fn holders(&self, project: u64) -> Vec<&Peer> {
        let owner = self.owner(project);
        std::iter::once(owner)
            .chain(self.peers.iter().filter(|peer| peer.id != owner.id))
            .collect()
    }

    /// Peers by descending weight for `project`: the owner, then the node
    /// that would own it if the owner were removed, and so on.
    pub fn preference(&self, project: u64) -> Vec<&Peer> {
        let mut ranked: Vec<(u64, &Peer)> = self
            .peers
            .iter()
            .map(|peer| (weight(&peer.id, project), peer))
            .collect();
        // Highest weight first; ties to the smaller id, as in `owner`.
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
        ranked.into_iter().map(|(_, peer)| peer).collect()
    }

    /// This node.
    pub fn local(&self) -> &Peer {
        &self.peers[self.local]
    }

    /// Every node, sorted by id.
    pub fn peers(&self) -> &[Peer] {
        &self.peers
    }

    /// Every node but this one.
    pub fn others(&self) -> impl Iterator<Item = &Peer> {
        let local = self.local;
        self.peers
            .iter()
            .enumerate()
            .filter(move |(i, _)| *i != local)
            .map(|(_, peer)| peer)
    }

    /// The peer named `id`.
    pub fn peer(&self, id: &str) -> Option<&Peer> {
        self.peers.iter().find(|peer| peer.id == id)
    }

    /// Whether the ring has a single node.
    pub fn is_single(&self) -> bool {
        self.peers.len() == 1
    }
}

/// The rendezvous weight of `peer_id` for `project` (see the module docs).
pub fn weight(peer_id: &str, project: u64) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(peer_id.as_bytes());
    hasher.update([0u8]);
    hasher.update(project.to_be_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn ring_of(ids: &[String], local: &str) -> Ring {
        let peers = ids
            .iter()
            .map(|id| Peer::new(id.clone(), format!("http://{id}:9091")))
            .collect();
        Ring::new(peers, local).unwrap()
    }

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_string()).collect()
    }

    const PROJECTS: u64 = 10_000;

    fn owners(ring: &Ring) -> Vec<String> {
        (0..PROJECTS).map(|p| ring.owner(p).id.clone()).collect()
    }

    /// Distinct peer ids (2 to 8 of them).
    fn peer_ids(min: usize) -> impl Strategy<Value = Vec<String>> {
        prop::collection::btree_set("[a-z][a-z0-9-]{0,11}", min..=8)
            .prop_map(|set| set.into_iter().collect())
    }

    #[test]
    fn weights_are_pinned() {
        // Fixed vectors, computed independently (Python hashlib):
        // int.from_bytes(sha256(b"n1" + b"\0" + (42).to_bytes(8, "big")).digest()[:8], "big")
        assert_eq!(weight("n1", 42), 0x0545_1800_f663_d735);
        assert_eq!(weight("n2", 42), 0x05c3_c622_f54d_2b89);
        assert_eq!(weight("n3", 42), 0x2699_6fb3_d7d2_4db3);
        assert_eq!(weight("stackherd-0", 0), 0xccd0_1686_e757_97cc);
        let ring = ring_of(&ids(&["n1", "n2", "n3"]), "n1");
        let pinned: Vec<&str> = (0..12).map(|p| ring.owner(p).id.as_str()).collect();
        assert_eq!(
            pinned,
            [
                "n1", "n3", "n3", "n1", "n2", "n3", "n1", "n1", "n1", "n2", "n2", "n1"
            ]
        );
    }

    #[test]
    fn invalid_peer_lists_are_refused() {
        assert_eq!(Ring::new(vec![], "n1"), Err(RingError::NoPeers));
        let twice = vec![Peer::new("n1", "http://a:1"), Peer::new("n1", "http://b:1")];
        assert_eq!(
            Ring::new(twice, "n1"),
            Err(RingError::DuplicatePeer("n1".to_string()))
        );
        let missing = Ring::new(vec![Peer::new("n1", "http://a:1")], "n2").unwrap_err();
        assert!(missing.to_string().contains("n2"), "{missing}");
        assert!(matches!(
            Ring::new(vec![Peer::new("", "http://a:1")], ""),
            Err(RingError::InvalidPeerId(_))
        ));
    }

    #[test]
    fn a_single_node_owns_everything() {
        let ring = Ring::single("", "http://127.0.0.1:9091/");
        assert_eq!(ring.local().id, SINGLE_NODE_ID);
        assert_eq!(ring.local().url, "http://127.0.0.1:9091");
        assert!(ring.is_single());
        assert!((0..1000).all(|p| ring.is_local(p)));
        assert_eq!(ring.holders(7).len(), 1);
        assert_eq!(ring.others().count(), 0);
    }

    #[test]
    fn settings_build_the_ring() {
        let settings = stackherd::settings::Settings::load_from(
            None,
            [
                ("STACKHERD__CLUSTER__NODE_ID", "n2"),
                (
                    "STACKHERD__CLUSTER__PEERS",
                    "n3=http://n3:9091,n1=http://n1:9091,n2=http://n2:9091/",
                ),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
        )
        .unwrap();
        let ring = Ring::from_settings(&settings.cluster, "http://0.0.0.0:9091").unwrap();
        assert_eq!(ring.local(), &Peer::new("n2", "http://n2:9091"));
        let sorted: Vec<&str> = ring.peers().iter().map(|p| p.id.as_str()).collect();
        assert_eq!(sorted, ["n1", "n2", "n3"]);
        let defaults = stackherd::settings::Settings::defaults().unwrap();
        let single = Ring::from_settings(&defaults.cluster, "http://127.0.0.1:9091").unwrap();
        assert!(single.is_single());
    }

    #[test]
    fn holders_start_with_the_owner_and_cover_every_node() {
        let ring = ring_of(&ids(&["a", "b", "c", "d"]), "c");
        for project in 0..200 {
            let holders = ring.holders(project);
            assert_eq!(holders[0], ring.owner(project));
            let mut seen: Vec<&str> = holders.iter().map(|p| p.id.as_str()).collect();
            seen.sort_unstable();
            assert_eq!(seen, ["a", "b", "c", "d"]);
            assert_eq!(ring.preference(project)[0], ring.owner(project));
        }
        let others: Vec<&str> = ring.others().map(|p| p.id.as_str()).collect();
        assert_eq!(others, ["a", "b", "d"]);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// The owner depends on the peer set only: not on the list's order
        /// nor on which node asks.
        #[test]
        fn ownership_is_deterministic(peers in peer_ids(1), rotate in 0usize..8, project in any::<u64>()) {
            let a = ring_of(&peers, &peers[0]);
            let mut shuffled = peers.clone();
            shuffled.rotate_left(rotate % peers.len());
            shuffled.reverse();
            let b = ring_of(&shuffled, &shuffled[0]);
            prop_assert_eq!(a.owner(project), b.owner(project));
            prop_assert_eq!(a.preference(project), b.preference(project));
            prop_assert_eq!(a.is_local(project), a.owner(project).id == peers[0]);
        }

        /// Each of N peers owns 1/N of 10k projects, within 20% (the
        /// binomial standard deviation is under 3% of the mean here).
        #[test]
        fn ownership_is_balanced(peers in peer_ids(2)) {
            let ring = ring_of(&peers, &peers[0]);
            let mut counts: BTreeMap<String, u64> = BTreeMap::new();
            for owner in owners(&ring) {
                *counts.entry(owner).or_default() += 1;
            }
            let expected = PROJECTS as f64 / peers.len() as f64;
            for id in &peers {
                let count = counts.get(id).copied().unwrap_or(0) as f64;
                prop_assert!(
                    (count - expected).abs() <= 0.2 * expected,
                    "{id} owns {count}, expected about {expected}: {counts:?}"
                );
            }
        }

        /// A new peer takes about 1/(N+1) of the projects, and every
        /// project that moves, moves to the new peer.
        #[test]
        fn adding_a_peer_moves_only_to_it(peers in peer_ids(2)) {
            let (old_ids, new_id) = peers.split_at(peers.len() - 1);
            let new_id = &new_id[0];
            let before = owners(&ring_of(old_ids, &old_ids[0]));
            let after = owners(&ring_of(&peers, &peers[0]));
            let mut moved = 0u64;
            for (old, new) in before.iter().zip(&after) {
                if old != new {
                    prop_assert_eq!(new, new_id);
                    moved += 1;
                }
            }
            let expected = PROJECTS as f64 / peers.len() as f64;
            prop_assert!(
                (moved as f64 - expected).abs() <= 0.2 * expected,
                "{moved} moved, expected about {expected}"
            );
        }

        /// Removing a peer moves its projects and no others.
        #[test]
        fn removing_a_peer_moves_only_its_projects(peers in peer_ids(2), which in 0usize..8) {
            let removed = &peers[which % peers.len()];
            let rest: Vec<String> = peers.iter().filter(|id| *id != removed).cloned().collect();
            let full = ring_of(&peers, &peers[0]);
            let before = owners(&full);
            let after = owners(&ring_of(&rest, &rest[0]));
            for (project, (old, new)) in before.iter().zip(&after).enumerate() {
                if old == removed {
                    prop_assert_ne!(new, removed);
                    // It goes to the runner-up of the full ring.
                    prop_assert_eq!(&full.preference(project as u64)[1].id, new);
                } else {
                    prop_assert_eq!(old, new);
                }
            }
        }
    }
}
