//! Real members on loopback ports: elections, forwarded proposals and barriers, fail-over,
//! growth, a lost majority, mutual TLS, and start-up errors. Every wait is on Raft metrics or
//! the applied view, never on a sleep.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use openraft::ServerState;
use tempfile::TempDir;
use tokio::time::Instant;

use super::config::{LeaseSpec, MemberSpec, MutualTls, NodeConfig};
use super::handle::ClusterError;
use super::network::{client_tls, Peers};
use super::node::{self, Node, NodeError};
use super::rpc::raft::LeaderRequest;
use super::state::{Command, Response};
use super::{Member, NodeId};

/// Generous bound for an election or a catch-up on a loaded test machine.
const WAIT: Duration = Duration::from_secs(20);

/// A loopback address nobody listens on (bound once to learn a free port).
fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().expect("local addr").to_string()
}

fn member_of(spec: &MemberSpec) -> Member {
    spec.member()
}

fn config(id: NodeId, specs: &[MemberSpec], dir: &Path, tls: Option<MutualTls>) -> NodeConfig {
    let me = specs
        .iter()
        .find(|s| s.node_id == id)
        .expect("a spec per node");
    NodeConfig {
        node_id: id,
        raft_addr: me.raft_addr.clone(),
        admin_addr: me.admin_addr.clone(),
        data_dir: dir.join(format!("node-{id}")),
        initial_members: specs.to_vec(),
        metrics_addr: None,
        lease: LeaseSpec::default(),
        admin: Default::default(),
        raft_tls: tls,
        cluster_id: None,
    }
}

fn specs(ids: impl IntoIterator<Item = NodeId>) -> Vec<MemberSpec> {
    ids.into_iter()
        .map(|node_id| MemberSpec {
            node_id,
            raft_addr: free_addr(),
            admin_addr: free_addr(),
        })
        .collect()
}

/// Starts nodes 1..=n as the initial members.
async fn start_cluster(dir: &Path, n: u64, tls: Option<MutualTls>) -> Vec<Node> {
    let specs = specs(1..=n);
    let mut nodes = Vec::new();
    for id in 1..=n {
        let cfg = config(id, &specs, dir, tls.clone());
        nodes.push(node::start(&cfg).await.expect("node starts"));
    }
    nodes
}

/// Waits until every node in `nodes` names the same leader, one of them; that leader.
async fn agreed_leader(nodes: &[&Node]) -> NodeId {
    let ids: Vec<NodeId> = nodes.iter().map(|n| n.handle.node_id()).collect();
    let first = nodes[0].handle.raft();
    let m = first
        .wait(Some(WAIT))
        .metrics(
            |m| m.current_leader.is_some_and(|l| ids.contains(&l)),
            "a leader among the live nodes",
        )
        .await
        .expect("a leader is elected");
    let leader = m.current_leader.expect("leader");
    for node in nodes {
        node.handle
            .raft()
            .wait(Some(WAIT))
            .current_leader(leader, "every node follows the leader")
            .await
            .expect("all nodes agree on the leader");
    }
    let leading = nodes
        .iter()
        .find(|n| n.handle.node_id() == leader)
        .expect("leader is live");
    leading
        .handle
        .raft()
        .wait(Some(WAIT))
        .state(ServerState::Leader, "the leader leads")
        .await
        .expect("leader state");
    leader
}

fn register(node: NodeId) -> Command {
    Command::RegisterWorker {
        node,
        member: Member {
            raft_addr: format!("worker-{node}:1"),
            admin_addr: format!("worker-{node}:2"),
        },
    }
}

/// The lease stamp a view holds for worker `node`.
fn stamp(n: &Node, node: NodeId) -> Option<u64> {
    n.handle
        .view()
        .read(|s| s.workers.get(&node).map(|w| w.renewed_ms))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn followers_forward_proposals_and_the_cluster_survives_its_leader() {
    let dir = TempDir::new().expect("temp dir");
    let mut nodes = start_cluster(dir.path(), 3, None).await;
    let leader = agreed_leader(&nodes.iter().collect::<Vec<_>>()).await;
    let follower = nodes
        .iter()
        .find(|n| n.handle.node_id() != leader)
        .expect("a follower");
    assert!(!follower.handle.is_leader());
    assert_eq!(follower.handle.leader().map(|l| l.0), Some(leader));
    assert_eq!(follower.handle.members().len(), 3);

    // A proposal from a follower is committed through the leader and applied here on return.
    let before = now_ms();
    let answer = follower
        .handle
        .propose(register(101))
        .await
        .expect("propose");
    let after = now_ms();
    assert_eq!(answer, Response::Ok);
    let stamped = stamp(follower, 101).expect("applied on the proposing follower on return");
    assert!(
        (before..=after).contains(&stamped),
        "stamped {stamped} within the call"
    );

    // A barrier on every node makes the entry visible there, with the same (leader's) stamp.
    for n in &nodes {
        n.handle.read_barrier().await.expect("read barrier");
        assert_eq!(stamp(n, 101), Some(stamped), "node {}", n.handle.node_id());
    }

    // Writes on the leader, each followed at once by a barrier on a follower: the follower
    // has applied every one of them when its barrier returns.
    let leading = nodes
        .iter()
        .find(|n| n.handle.node_id() == leader)
        .expect("leader");
    for worker in 1000..1020 {
        leading
            .handle
            .propose(register(worker))
            .await
            .expect("propose");
        follower.handle.read_barrier().await.expect("read barrier");
        assert!(
            stamp(follower, worker).is_some(),
            "worker {worker} not applied after the barrier"
        );
    }

    // The leader goes: the survivors elect another and take proposals.
    let at = nodes
        .iter()
        .position(|n| n.handle.node_id() == leader)
        .expect("leader");
    nodes.remove(at).shutdown().await;
    let survivors: Vec<&Node> = nodes.iter().collect();
    let new_leader = agreed_leader(&survivors).await;
    assert_ne!(new_leader, leader);
    let survivor = nodes
        .iter()
        .find(|n| n.handle.node_id() != new_leader)
        .expect("follower");
    assert_eq!(
        survivor
            .handle
            .propose(register(102))
            .await
            .expect("propose"),
        Response::Ok
    );
    assert!(stamp(survivor, 102).is_some());

    // A fourth node joins through a follower, catches up and votes.
    let joiner_spec = specs([4]);
    let mut cfg = config(4, &joiner_spec, dir.path(), None);
    cfg.initial_members.clear();
    let joiner = node::start(&cfg).await.expect("fourth node starts");
    survivor
        .handle
        .add_member(4, member_of(&joiner_spec[0]))
        .await
        .expect("add member through a follower");
    let info = survivor.handle.members();
    assert!(info.iter().any(|m| m.node == 4 && m.voter), "{info:?}");
    joiner
        .handle
        .read_barrier()
        .await
        .expect("barrier on the new member");
    assert!(stamp(&joiner, 101).is_some() && stamp(&joiner, 102).is_some());
    assert_eq!(
        joiner.handle.propose(register(103)).await.expect("propose"),
        Response::Ok
    );

    joiner.shutdown().await;
    for n in nodes {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_member_behind_the_purged_log_catches_up_from_a_snapshot() {
    let dir = TempDir::new().expect("temp dir");
    let nodes = start_cluster(dir.path(), 1, None).await;
    let first = &nodes[0];
    agreed_leader(&[first]).await;
    for worker in 1..=5 {
        first
            .handle
            .propose(register(worker))
            .await
            .expect("propose");
    }
    // A snapshot, and the log before it gone: a new member can only start from the snapshot.
    let raft = first.handle.raft();
    let last = raft.metrics().borrow().last_applied.expect("applied").index;
    raft.trigger().snapshot().await.expect("snapshot");
    raft.wait(Some(WAIT))
        .metrics(
            |m| m.snapshot.is_some_and(|s| s.index >= last),
            "snapshot built",
        )
        .await
        .expect("snapshot built");
    raft.trigger().purge_log(last).await.expect("purge");
    raft.wait(Some(WAIT))
        .metrics(|m| m.purged.is_some_and(|p| p.index == last), "log purged")
        .await
        .expect("log purged");

    let joiner_spec = specs([2]);
    let mut cfg = config(2, &joiner_spec, dir.path(), None);
    cfg.initial_members.clear();
    let joiner = node::start(&cfg).await.expect("second node starts");
    first
        .handle
        .add_member(2, member_of(&joiner_spec[0]))
        .await
        .expect("add member");
    joiner
        .handle
        .read_barrier()
        .await
        .expect("barrier on the new member");
    let snapshot = joiner.handle.raft().metrics().borrow().snapshot;
    assert!(
        snapshot.is_some_and(|s| s.index >= last),
        "installed {snapshot:?}"
    );
    for worker in 1..=5 {
        assert_eq!(
            stamp(&joiner, worker),
            stamp(first, worker),
            "worker {worker}"
        );
    }
    joiner.shutdown().await;
    for n in nodes {
        n.shutdown().await;
    }
}

/// Shuts down every node but `keep` and proposes on it: NoLeader, within the deadline.
async fn propose_without_majority(keep_leader: bool) {
    let dir = TempDir::new().expect("temp dir");
    let mut nodes = start_cluster(dir.path(), 3, None).await;
    let leader = agreed_leader(&nodes.iter().collect::<Vec<_>>()).await;
    let keep = nodes
        .iter()
        .position(|n| (n.handle.node_id() == leader) == keep_leader)
        .expect("a node to keep");
    let survivor = nodes.remove(keep);
    for n in nodes {
        n.shutdown().await;
    }
    let deadline = Duration::from_secs(3);
    let handle = survivor.handle.clone().with_deadline(deadline);
    let started = Instant::now();
    let outcome = handle.propose(register(201)).await;
    let took = started.elapsed();
    assert!(
        matches!(outcome, Err(ClusterError::NoLeader(_))),
        "{outcome:?}"
    );
    assert!(took <= deadline + Duration::from_secs(1), "took {took:?}");
    survivor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_without_a_majority_answers_no_leader_within_the_deadline() {
    propose_without_majority(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_without_a_majority_answers_no_leader_within_the_deadline() {
    propose_without_majority(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mutual_tls_cluster_elects_and_refuses_a_client_without_the_certificate() {
    let dir = TempDir::new().expect("temp dir");
    let tls = certs::write(dir.path(), "cluster");
    let nodes = start_cluster(dir.path(), 3, Some(tls.clone())).await;
    let leader = agreed_leader(&nodes.iter().collect::<Vec<_>>()).await;
    let follower = nodes
        .iter()
        .find(|n| n.handle.node_id() != leader)
        .expect("a follower");
    assert_eq!(
        follower
            .handle
            .propose(register(301))
            .await
            .expect("propose"),
        Response::Ok
    );
    let addr = nodes[0].raft_addr.to_string();

    // With the cluster's certificate: answered.
    let ours = Peers::new(Some(client_tls(&tls).expect("tls")));
    let reply = ours
        .client(&addr)
        .expect("client")
        .leader(LeaderRequest {})
        .await;
    assert_eq!(
        reply.expect("answered").into_inner().leader_id,
        Some(leader)
    );

    // Trusting the CA but presenting no certificate: refused.
    let ca = tonic::transport::Certificate::from_pem(std::fs::read(&tls.ca).expect("ca"));
    let anonymous = Peers::new(Some(
        tonic::transport::ClientTlsConfig::new().ca_certificate(ca.clone()),
    ));
    let refused = anonymous
        .client(&addr)
        .expect("client")
        .leader(LeaderRequest {})
        .await;
    assert!(
        refused.is_err(),
        "a client without a certificate was answered"
    );

    // A certificate of another CA: refused.
    let other = certs::write(&dir.path().join("other"), "intruder");
    let foreign = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(ca)
        .identity(tonic::transport::Identity::from_pem(
            std::fs::read(&other.cert).expect("cert"),
            std::fs::read(&other.key).expect("key"),
        ));
    let refused = Peers::new(Some(foreign))
        .client(&addr)
        .expect("client")
        .leader(LeaderRequest {})
        .await;
    assert!(
        refused.is_err(),
        "a client with a foreign certificate was answered"
    );

    // Plain HTTP/2: refused.
    let refused = Peers::new(None)
        .client(&addr)
        .expect("client")
        .leader(LeaderRequest {})
        .await;
    assert!(refused.is_err(), "a plain-text client was answered");

    for n in nodes {
        n.shutdown().await;
    }
}

#[tokio::test]
async fn start_names_the_raft_addr_in_use() {
    let dir = TempDir::new().expect("temp dir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr: SocketAddr = taken.local_addr().expect("addr");
    let mut specs = specs([1]);
    specs[0].raft_addr = addr.to_string();
    let cfg = config(1, &specs, dir.path(), None);
    let err = node::start(&cfg).await.err().expect("start fails");
    assert!(matches!(err, NodeError::Bind { .. }), "{err}");
    let line = err.to_string();
    assert!(
        line.contains(&addr.to_string()) && line.contains("raft_addr"),
        "{line}"
    );
    assert!(!line.contains('\n'));
}

#[tokio::test]
async fn start_names_an_unusable_data_dir() {
    let dir = TempDir::new().expect("temp dir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write");
    let specs = specs([1]);
    let mut cfg = config(1, &specs, dir.path(), None);
    cfg.data_dir = file.clone();
    let err = node::start(&cfg).await.err().expect("start fails");
    assert!(matches!(err, NodeError::DataDir { .. }), "{err}");
    assert!(
        err.to_string().contains(&file.display().to_string()),
        "{err}"
    );
}

/// A throw-away CA and one certificate for `127.0.0.1`/`localhost`, both server and client.
mod certs {
    use std::path::Path;

    use openssl::asn1::{Asn1Integer, Asn1Time};
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::{PKey, Private};
    use openssl::x509::extension::{
        BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    };
    use openssl::x509::{X509Builder, X509NameBuilder, X509};

    use crate::cluster::config::MutualTls;

    fn key() -> PKey<Private> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("p-256");
        PKey::from_ec_key(EcKey::generate(&group).expect("ec key")).expect("pkey")
    }

    fn builder(cn: &str, key: &PKey<Private>, serial: u32) -> X509Builder {
        let mut name = X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", cn).expect("cn");
        let name = name.build();
        let mut b = X509Builder::new().expect("builder");
        b.set_version(2).expect("v3");
        let serial = Asn1Integer::from_bn(&BigNum::from_u32(serial).expect("bn")).expect("serial");
        b.set_serial_number(&serial).expect("serial");
        b.set_subject_name(&name).expect("subject");
        b.set_pubkey(key).expect("pubkey");
        b.set_not_before(&Asn1Time::days_from_now(0).expect("now"))
            .expect("nb");
        b.set_not_after(&Asn1Time::days_from_now(1).expect("later"))
            .expect("na");
        b
    }

    fn ca(cn: &str) -> (X509, PKey<Private>) {
        let key = key();
        let mut b = builder(cn, &key, 1);
        let mut name = X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", cn).expect("cn");
        b.set_issuer_name(&name.build()).expect("issuer");
        let ca = BasicConstraints::new().critical().ca().build().expect("bc");
        b.append_extension(ca).expect("bc");
        let usage = KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build();
        b.append_extension(usage.expect("ku")).expect("ku");
        b.sign(&key, MessageDigest::sha256()).expect("self-sign");
        (b.build(), key)
    }

    /// Writes `ca.pem`, `node.pem` and `node.key` under `dir`; the paths as a node file has them.
    pub fn write(dir: &Path, name: &str) -> MutualTls {
        std::fs::create_dir_all(dir).expect("dir");
        let (ca, ca_key) = ca(&format!("{name} CA"));
        let key = key();
        let mut b = builder(&format!("{name} node"), &key, 2);
        b.set_issuer_name(ca.subject_name()).expect("issuer");
        b.append_extension(BasicConstraints::new().build().expect("bc"))
            .expect("bc");
        b.append_extension(
            ExtendedKeyUsage::new()
                .server_auth()
                .client_auth()
                .build()
                .expect("eku"),
        )
        .expect("eku");
        let san = SubjectAlternativeName::new()
            .ip("127.0.0.1")
            .dns("localhost")
            .build(&b.x509v3_context(Some(&ca), None))
            .expect("san");
        b.append_extension(san).expect("san");
        b.sign(&ca_key, MessageDigest::sha256()).expect("sign");
        let cert = b.build();
        let tls = MutualTls {
            ca: dir.join("ca.pem"),
            cert: dir.join("node.pem"),
            key: dir.join("node.key"),
        };
        std::fs::write(&tls.ca, ca.to_pem().expect("pem")).expect("write ca");
        std::fs::write(&tls.cert, cert.to_pem().expect("pem")).expect("write cert");
        std::fs::write(&tls.key, key.private_key_to_pem_pkcs8().expect("pem")).expect("write key");
        tls
    }
}
