//! The admin service end to end over gRPC on 127.0.0.1:0, against [`Fake`]: a cluster without
//! Raft whose proposals run the real `apply` on an in-process state. What the leader's
//! scheduler and reconciler would do (move shards, remove deleted tasks) the tests do by hand,
//! on the state's applied signal.

use crate::cluster::plan::PlanError;
use crate::cluster::state::ShardPlan;
use crate::config::TaskSpec;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic::{Code, Request};

use super::pb::{self, admin_client::AdminClient};
use super::{serve_cluster, AdminCluster, Limits, AUTH_ERROR};
use crate::checkpoint::ShardKey;
use crate::cluster::config::AdminSecurity;
use crate::cluster::handle::MemberInfo;
use crate::cluster::state::{ClusterState, Command, Desired, Response, Stamped, StateView};
use crate::cluster::{ClusterError, Member, NodeId};

/// A cluster without Raft: proposals apply at once to an in-process state.
#[derive(Clone, Default)]
pub(crate) struct Fake(Arc<Inner>);

#[derive(Default)]
struct Inner {
    view: StateView,
    index: Mutex<u64>,
    members: Mutex<Vec<MemberInfo>>,
    no_leader: AtomicBool,
    /// The leader is known but this node cannot reach it (barriers fail).
    leader_unreachable: AtomicBool,
}

pub(crate) fn member(node: NodeId) -> Member {
    Member {
        raft_addr: format!("127.0.0.1:{}", 7200 + node),
        admin_addr: format!("127.0.0.1:{}", 7100 + node),
    }
}

impl Fake {
    /// Voters `nodes`, each registered as a worker; the first leads.
    pub(crate) fn with_workers(nodes: &[NodeId]) -> Fake {
        let fake = Fake::default();
        for &node in nodes {
            fake.0.members.lock().unwrap().push(MemberInfo {
                node,
                member: member(node),
                voter: true,
            });
            fake.apply(Command::RegisterWorker {
                node,
                member: member(node),
            });
        }
        fake
    }

    /// Applies `cmd` as the leader would, stamped with the wall clock.
    pub(crate) fn apply(&self, cmd: Command) -> Response {
        let mut index = self.0.index.lock().unwrap();
        *index += 1;
        let entry = Stamped {
            at_ms: now_ms(),
            cmd,
        };
        self.0.view.write(*index, |s| s.apply(&entry))
    }

    pub(crate) fn set_no_leader(&self, none: bool) {
        self.0.no_leader.store(none, Ordering::SeqCst);
    }

    fn leader_check(&self) -> Result<(), ClusterError> {
        if self.0.no_leader.load(Ordering::SeqCst) {
            return Err(ClusterError::NoLeader("election running".into()));
        }
        Ok(())
    }

    /// Runs `then` once `cond` holds on the state (the way the leader's loops react).
    pub(crate) fn when(
        &self,
        cond: impl Fn(&ClusterState) -> bool + Send + 'static,
        then: impl FnOnce(&Fake) + Send + 'static,
    ) {
        let fake = self.clone();
        let mut applied = fake.0.view.subscribe();
        tokio::spawn(async move {
            loop {
                applied.borrow_and_update();
                if fake.0.view.read(&cond) {
                    return then(&fake);
                }
                if applied.changed().await.is_err() {
                    return;
                }
            }
        });
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tonic::async_trait]
impl AdminCluster for Fake {
    /// One shard with the task's selectors, as `sharding = "none"` plans it.
    async fn plan(&self, spec: &TaskSpec, _: &[String]) -> Result<Vec<ShardPlan>, PlanError> {
        Ok(vec![ShardPlan {
            shard: 0,
            tables: spec.objects.tables.clone(),
        }])
    }
    async fn plan_added(
        &self,
        _: &TaskSpec,
        added: &[String],
    ) -> Result<Vec<ShardPlan>, PlanError> {
        Ok(added
            .iter()
            .map(|t| ShardPlan {
                shard: 0,
                tables: vec![t.clone()],
            })
            .collect())
    }
    fn view(&self) -> &StateView {
        &self.0.view
    }
    fn leader(&self) -> Option<(NodeId, Member)> {
        if self.0.no_leader.load(Ordering::SeqCst) {
            return None;
        }
        let members = self.0.members.lock().unwrap();
        members.first().map(|m| (m.node, m.member.clone()))
    }
    fn members(&self) -> Vec<MemberInfo> {
        self.0.members.lock().unwrap().clone()
    }
    async fn propose(&self, cmd: Command) -> Result<Response, ClusterError> {
        self.leader_check()?;
        Ok(self.apply(cmd))
    }
    async fn read_barrier(&self) -> Result<(), ClusterError> {
        self.leader_check()?;
        if self.0.leader_unreachable.load(Ordering::SeqCst) {
            return Err(ClusterError::Unreachable {
                addr: "127.0.0.1:7201".into(),
                reason: "connection refused".into(),
            });
        }
        Ok(())
    }
    async fn add_member(&self, node: NodeId, member: Member) -> Result<(), ClusterError> {
        self.leader_check()?;
        let mut members = self.0.members.lock().unwrap();
        members.retain(|m| m.node != node);
        members.push(MemberInfo {
            node,
            member,
            voter: true,
        });
        Ok(())
    }
    async fn remove_member(&self, node: NodeId) -> Result<(), ClusterError> {
        self.leader_check()?;
        self.0.members.lock().unwrap().retain(|m| m.node != node);
        Ok(())
    }
}

/// An admin server on 127.0.0.1:0; stops when dropped.
pub(crate) struct Served {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

pub(crate) async fn serve(fake: &Fake, security: AdminSecurity, limits: Limits) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let fake = fake.clone();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        serve_cluster(fake, &security, limits, listener, shutdown)
            .await
            .unwrap();
    });
    Served { addr, _stop: stop }
}

async fn client(s: &Served) -> AdminClient<Channel> {
    AdminClient::connect(format!("http://{}", s.addr))
        .await
        .unwrap()
}

async fn started(fake: &Fake) -> (Served, AdminClient<Channel>) {
    let s = serve(fake, AdminSecurity::default(), Limits::default()).await;
    let c = client(&s).await;
    (s, c)
}

pub(crate) const SPEC: &str = r#"
name = "orders"
[source]
kind = "postgres"
url = "postgres://app:hunter2@127.0.0.1:5432/shop"
[destination]
kind = "kafka"
bootstrap_servers = "127.0.0.1:9092"
sasl_password = "kafka-secret"
[objects]
tables = ["public.orders"]
[labels]
team = "data"
"#;

fn create(spec: &str) -> pb::CreateTaskRequest {
    pb::CreateTaskRequest {
        spec_toml: spec.into(),
        accept_warnings: Vec::new(),
    }
}

fn name(n: &str) -> pb::GetTaskRequest {
    pb::GetTaskRequest { name: n.into() }
}

#[tokio::test]
async fn a_created_task_reads_back_from_get_and_list_without_its_secrets() {
    let fake = Fake::with_workers(&[1]);
    let (_s, mut c) = started(&fake).await;
    let created = c.create_task(create(SPEC)).await.unwrap().into_inner();
    assert_eq!(created.name, "orders");
    let t = c.get_task(name("orders")).await.unwrap().into_inner();
    assert_eq!(t.desired(), pb::DesiredState::Running);
    assert_eq!(t.phase(), pb::TaskPhase::Pending);
    assert_eq!(t.labels.get("team").map(String::as_str), Some("data"));
    assert!(t.created_ms > 0);
    assert_eq!(t.shards.len(), 1);
    assert_eq!(t.shards[0].tables, ["public.orders"]);
    assert!(!t.spec_toml.contains("hunter2"), "{}", t.spec_toml);
    assert!(!t.spec_toml.contains("kafka-secret"), "{}", t.spec_toml);
    assert!(t.spec_toml.contains("app:***@127.0.0.1"), "{}", t.spec_toml);
    let list = c.list_tasks(pb::ListTasksRequest {}).await.unwrap();
    assert_eq!(list.into_inner().tasks.len(), 1);
}

#[tokio::test]
async fn bad_specs_and_duplicates_are_refused_naming_the_field() {
    let fake = Fake::with_workers(&[1]);
    let (_s, mut c) = started(&fake).await;
    let bad_name = SPEC.replace("name = \"orders\"", "name = \"or ders\"");
    let e = c.create_task(create(&bad_name)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("name"), "{}", e.message());
    let typo = SPEC.replace("tables =", "tabels =");
    let e = c.create_task(create(&typo)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("tabels"), "{}", e.message());
    assert!(!e.message().contains('\n'), "{}", e.message());
    c.create_task(create(SPEC)).await.unwrap();
    let e = c.create_task(create(SPEC)).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "{}", e.message());
    assert!(e.message().contains("orders"), "{}", e.message());
}

fn update(n: &str, spec: &str) -> pb::UpdateTaskRequest {
    pb::UpdateTaskRequest {
        name: n.into(),
        spec_toml: spec.into(),
    }
}

#[tokio::test]
async fn update_changes_live_settings_and_refuses_the_others() {
    let fake = Fake::with_workers(&[1]);
    let (_s, mut c) = started(&fake).await;
    c.create_task(create(SPEC)).await.unwrap();
    let relabelled = SPEC.replace("team = \"data\"", "team = \"platform\"");
    let t = c.update_task(update("orders", &relabelled)).await.unwrap();
    assert_eq!(t.into_inner().labels["team"], "platform");
    let stored = fake.0.view.read(|s| s.tasks["orders"].spec_toml.clone());
    assert_eq!(
        stored, relabelled,
        "the full spec is stored, secrets included"
    );
    let retable = SPEC.replace("public.orders", "public.items");
    let e = c.update_task(update("orders", &retable)).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("objects.tables"), "{}", e.message());
    let e = c.update_task(update("other", SPEC)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
    let other = SPEC.replace("name = \"orders\"", "name = \"other\"");
    let e = c.update_task(update("other", &other)).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().contains("task list"), "{}", e.message());
}

#[tokio::test]
async fn pause_and_resume_set_the_desired_state() {
    let fake = Fake::with_workers(&[1]);
    let (_s, mut c) = started(&fake).await;
    c.create_task(create(SPEC)).await.unwrap();
    let paused = c
        .pause_task(pb::PauseTaskRequest {
            name: "orders".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(paused.desired(), pb::DesiredState::Paused);
    assert_eq!(paused.phase(), pb::TaskPhase::Paused);
    let resumed = c
        .resume_task(pb::ResumeTaskRequest {
            name: "orders".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resumed.desired(), pb::DesiredState::Running);
    let e = c
        .pause_task(pb::PauseTaskRequest {
            name: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    fake.apply(Command::DeleteTask {
        name: "orders".into(),
        delete_topics: false,
    });
    let e = c
        .resume_task(pb::ResumeTaskRequest {
            name: "orders".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
}

fn delete(n: &str) -> pb::DeleteTaskRequest {
    pb::DeleteTaskRequest {
        name: n.into(),
        delete_topics: true,
    }
}

#[tokio::test]
async fn delete_answers_once_the_task_is_gone() {
    let fake = Fake::with_workers(&[1]);
    let (_s, mut c) = started(&fake).await;
    c.create_task(create(SPEC)).await.unwrap();
    // The leader's reconciler: drops the deleted task's objects, then removes it.
    fake.when(
        |s| {
            s.tasks
                .get("orders")
                .is_some_and(|t| t.desired == Desired::Deleted)
        },
        |f| {
            assert!(f.0.view.read(|s| s.tasks["orders"].delete_topics));
            f.apply(Command::RemoveTask {
                name: "orders".into(),
            });
        },
    );
    let r = c.delete_task(delete("orders")).await.unwrap().into_inner();
    assert!(r.removed, "{}", r.message);
    assert!(fake
        .0
        .view
        .read(|s| s.tasks.is_empty() && s.shards.is_empty()));
    let e = c.delete_task(delete("orders")).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
}

#[tokio::test]
async fn a_slow_delete_answers_that_it_continues_in_the_background() {
    let fake = Fake::with_workers(&[1]);
    let limits = Limits {
        delete_wait: Duration::from_millis(50),
        ..Limits::default()
    };
    let s = serve(&fake, AdminSecurity::default(), limits).await;
    let mut c = client(&s).await;
    c.create_task(create(SPEC)).await.unwrap();
    let r = c.delete_task(delete("orders")).await.unwrap().into_inner();
    assert!(!r.removed);
    assert!(r.message.contains("background"), "{}", r.message);
    let t = c.get_task(name("orders")).await.unwrap().into_inner();
    assert_eq!(t.phase(), pb::TaskPhase::Deleting);
}

#[tokio::test]
async fn without_a_leader_calls_are_unavailable_but_status_still_answers() {
    let fake = Fake::with_workers(&[1, 2]);
    let (_s, mut c) = started(&fake).await;
    fake.set_no_leader(true);
    let e = c.create_task(create(SPEC)).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);
    assert!(e.message().contains("no leader"), "{}", e.message());
    let e = c.get_task(name("orders")).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);
    let status = c
        .cluster_status(pb::ClusterStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.leader_id, None);
    let health = status.health.unwrap();
    assert!(!health.ok);
    assert!(health.degraded[0].contains("no leader"), "{health:?}");
    assert_eq!(status.members.len(), 2);
}

#[tokio::test]
async fn a_node_cut_off_from_its_leader_shows_its_own_view_marked_stale() {
    let fake = Fake::with_workers(&[1, 2]);
    let (_s, mut c) = started(&fake).await;
    fake.0.leader_unreachable.store(true, Ordering::SeqCst);
    let e = c.get_task(name("orders")).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);
    assert!(
        e.message().contains("cannot reach 127.0.0.1:7201"),
        "{}",
        e.message()
    );
    let status = c
        .cluster_status(pb::ClusterStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.leader_id, Some(1));
    assert_eq!(status.members.len(), 2);
    let health = status.health.unwrap();
    assert!(!health.ok);
    assert!(health.degraded[0].contains("possibly stale"), "{health:?}");
}

#[tokio::test]
async fn cluster_status_shows_roles_leases_shards_and_lost_workers() {
    let fake = Fake::with_workers(&[1, 2, 3]);
    let (_s, mut c) = started(&fake).await;
    c.create_task(create(SPEC)).await.unwrap();
    fake.apply(Command::Assign {
        key: ShardKey {
            task: "orders".into(),
            shard: 0,
        },
        to: Some(2),
        graceful: false,
    });
    fake.apply(Command::ExpireWorker { node: 3 });
    let status = c
        .cluster_status(pb::ClusterStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.leader_id, Some(1));
    let m: Vec<(u64, bool, u32, bool)> = status
        .members
        .iter()
        .map(|m| (m.node_id, m.leader, m.shard_count, m.lost))
        .collect();
    assert_eq!(
        m,
        [
            (1, true, 0, false),
            (2, false, 1, false),
            (3, false, 0, true)
        ]
    );
    assert!(status
        .members
        .iter()
        .all(|m| m.voter && m.lease_age_ms.is_some()));
    assert_eq!(status.members[1].admin_addr, "127.0.0.1:7102");
    let health = status.health.unwrap();
    assert!(!health.ok);
    assert_eq!(health.degraded.len(), 1, "{health:?}");
    assert!(
        health.degraded[0].contains("worker 3 is lost"),
        "{health:?}"
    );
}

fn remove(node: u64) -> pb::RemoveWorkerRequest {
    pb::RemoveWorkerRequest { node_id: node }
}

#[tokio::test]
async fn removing_a_worker_waits_for_its_shards_to_move_then_forgets_it() {
    let fake = Fake::with_workers(&[1, 2]);
    let (_s, mut c) = started(&fake).await;
    c.create_task(create(SPEC)).await.unwrap();
    let key = ShardKey {
        task: "orders".into(),
        shard: 0,
    };
    fake.apply(Command::Assign {
        key: key.clone(),
        to: Some(2),
        graceful: false,
    });
    // The leader's scheduler: a draining worker's shard moves to a live one.
    let moved = key.clone();
    fake.when(
        |s| s.workers.get(&2).is_some_and(|w| w.draining),
        move |f| {
            f.apply(Command::Assign {
                key: moved,
                to: Some(1),
                graceful: false,
            });
        },
    );
    c.remove_worker(remove(2)).await.unwrap();
    assert!(fake.members().iter().all(|m| m.node != 2));
    fake.0.view.read(|s| {
        assert!(!s.workers.contains_key(&2));
        assert_eq!(s.shards[&key].owner, Some(1));
    });
    let e = c.remove_worker(remove(1)).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("last worker"), "{}", e.message());
    let e = c.remove_worker(remove(9)).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{}", e.message());
}

#[tokio::test]
async fn a_drain_that_does_not_finish_is_reported_and_the_worker_kept() {
    let fake = Fake::with_workers(&[1, 2]);
    let limits = Limits {
        drain_wait: Duration::from_millis(50),
        ..Limits::default()
    };
    let s = serve(&fake, AdminSecurity::default(), limits).await;
    let mut c = client(&s).await;
    c.create_task(create(SPEC)).await.unwrap();
    fake.apply(Command::Assign {
        key: ShardKey {
            task: "orders".into(),
            shard: 0,
        },
        to: Some(2),
        graceful: false,
    });
    let e = c.remove_worker(remove(2)).await.unwrap_err();
    assert_eq!(e.code(), Code::DeadlineExceeded);
    assert!(
        e.message().contains("still owns 1 shard"),
        "{}",
        e.message()
    );
    assert!(fake.members().iter().any(|m| m.node == 2));
    assert!(fake.0.view.read(|s| s.workers[&2].draining));
}

#[tokio::test]
async fn adding_a_worker_joins_raft_and_registers_it() {
    let fake = Fake::with_workers(&[1]);
    let (_s, mut c) = started(&fake).await;
    let add = |raft: &str| pb::AddWorkerRequest {
        node_id: 4,
        raft_addr: raft.into(),
        admin_addr: "127.0.0.1:7104".into(),
    };
    let e = c.add_worker(add("127.0.0.1")).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("raft_addr"), "{}", e.message());
    assert!(fake.members().iter().all(|m| m.node != 4));
    c.add_worker(add("127.0.0.1:7204")).await.unwrap();
    assert!(fake.members().iter().any(|m| m.node == 4));
    let registered = fake
        .0
        .view
        .read(|s| s.workers.get(&4).map(|w| w.member.clone()));
    assert_eq!(registered, Some(member(4)));
}

#[tokio::test]
async fn a_token_is_required_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "s3cret\n").unwrap();
    let security = AdminSecurity {
        token_file: Some(file),
        ..AdminSecurity::default()
    };
    let fake = Fake::with_workers(&[1]);
    let s = serve(&fake, security, Limits::default()).await;
    let mut c = client(&s).await;
    let list = |token: Option<&str>| {
        let mut r = Request::new(pb::ListTasksRequest {});
        if let Some(t) = token {
            r.metadata_mut().insert("authorization", t.parse().unwrap());
        }
        r
    };
    for bad in [None, Some("Bearer wrong"), Some("s3cret")] {
        let e = c.list_tasks(list(bad)).await.unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{bad:?}");
        assert_eq!(e.message(), AUTH_ERROR);
    }
    c.list_tasks(list(Some("Bearer s3cret"))).await.unwrap();
}
