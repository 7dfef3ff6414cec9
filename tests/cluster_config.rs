//! Every file shipped in cluster-config/ loads as what it is: node files with
//! `NodeConfig::load` (strict: a renamed key breaks this test), task files under `tasks/` with
//! `TaskSpec::load`. The node files of one cluster agree on their members, and each names
//! itself among them with its own addresses and an absolute data directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use tributary::cluster::config::NodeConfig;
use tributary::config::TaskSpec;

fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            toml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
}

/// The node files of one cluster (one directory): they describe the same members.
fn check_cluster(dir: &Path, nodes: &[NodeConfig]) {
    assert_eq!(nodes.len(), 3, "{}: three node files", dir.display());
    let members = |n: &NodeConfig| -> Vec<(u64, String, String)> {
        n.initial_members
            .iter()
            .map(|m| (m.node_id, m.raft_addr.clone(), m.admin_addr.clone()))
            .collect()
    };
    let ids: BTreeSet<u64> = nodes.iter().map(|n| n.node_id).collect();
    assert_eq!(ids.len(), 3, "{}: distinct node ids", dir.display());
    for n in nodes {
        assert_eq!(
            members(n),
            members(&nodes[0]),
            "{}: same initial_members",
            dir.display()
        );
        let own = (n.node_id, n.raft_addr.clone(), n.admin_addr.clone());
        assert!(
            members(n).contains(&own),
            "node {} lists its own addresses",
            n.node_id
        );
        assert!(
            n.data_dir.is_absolute(),
            "node {}: data_dir must be absolute",
            n.node_id
        );
    }
}

#[test]
fn every_shipped_file_in_cluster_config_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster-config");
    let mut files = Vec::new();
    toml_files(&root, &mut files);
    files.sort();
    let mut clusters: std::collections::BTreeMap<PathBuf, Vec<NodeConfig>> = Default::default();
    let (mut tasks, mut node_files) = (0, 0);
    for f in &files {
        if f.parent().is_some_and(|p| p.ends_with("tasks")) {
            TaskSpec::load(f).unwrap_or_else(|e| panic!("{e}"));
            tasks += 1;
        } else {
            let cfg = NodeConfig::load(f).unwrap_or_else(|e| panic!("{e}"));
            clusters
                .entry(f.parent().unwrap().to_owned())
                .or_default()
                .push(cfg);
            node_files += 1;
        }
    }
    assert!(tasks >= 1 && node_files >= 6, "{files:?}");
    for (dir, nodes) in &clusters {
        check_cluster(dir, nodes);
    }
    let local = &clusters[&root];
    let admin: Vec<&str> = local.iter().map(|n| n.admin_addr.as_str()).collect();
    assert_eq!(
        admin,
        ["127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"]
    );
    let compose = &clusters[&root.join("compose")];
    assert!(compose
        .iter()
        .all(|n| n.admin.token_env.as_deref() == Some("TRIBUTARY_ADMIN_TOKEN")));
}
