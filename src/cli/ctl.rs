//! `tributary ctl`: the admin API's command line. It connects to any worker's admin address,
//! runs one call, and prints an aligned table (or `--json`, a stable shape independent of the
//! protobuf messages). Errors are one `error:` line on stderr, exit code 1 (2 for usage).

mod output;
pub(crate) mod table;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::cluster::admin::pb::{self, admin_client::AdminClient};
use output::{ClusterView, TaskView};

/// Connecting gives up after this: a worker that is up answers at once.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A call gives up after this: deleting a task and removing a worker wait up to a minute each
/// on the server.
const CALL_TIMEOUT: Duration = Duration::from_secs(150);

#[derive(Debug, Args)]
pub struct CtlArgs {
    /// Admin address of any worker (`host:port`, `http://host:port` or `https://host:port`).
    #[arg(
        long,
        global = true,
        env = "TRIBUTARY_SERVER",
        default_value = "127.0.0.1:7101"
    )]
    pub server: String,
    /// The admin bearer token (the worker's admin.token_file or admin.token_env).
    #[arg(long, global = true, env = "TRIBUTARY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate (PEM) that signed the worker's admin certificate: connects with TLS.
    #[arg(long, global = true, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Create, inspect, change, pause, resume and delete tasks.
    #[command(subcommand)]
    Task(TaskCommand),
    /// The cluster's members, leader and health.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Add or remove workers.
    #[command(subcommand)]
    Worker(WorkerCommand),
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Submits a task file: prechecked, validated, split into shards and started.
    Create {
        file: PathBuf,
        /// Precheck warnings to accept besides the file's precheck.accept_warnings.
        #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
        accept_warnings: Vec<String>,
    },
    /// Every task with its phase and progress.
    List,
    /// One task: shards, owners, progress, last error and its spec (secrets redacted).
    Get { name: String },
    /// Replaces a running task's file; only throttles, retry.* and labels may change.
    Update { name: String, file: PathBuf },
    /// Adds tables to a running task: each is published from now on and its snapshot read
    /// in chunks beside the stream (the shard taking them restarts from its checkpoint).
    AddTables {
        name: String,
        /// `schema.table`, a glob, or `schema.*`, as in objects.tables.
        #[arg(required = true)]
        tables: Vec<String>,
    },
    /// Reads one table's snapshot again, in chunks beside the stream, while its changes go
    /// on streaming.
    Resnapshot {
        name: String,
        /// `schema.table`.
        table: String,
    },
    /// Stops the task's shards after their last checkpoint; resume continues from there.
    Pause { name: String },
    /// Resumes a paused task, or restarts its failed shards.
    Resume { name: String },
    /// Checks a task file against its source and broker, item by item, creating nothing;
    /// exits 1 when the task could not start.
    Precheck {
        file: PathBuf,
        /// Warnings to accept besides the file's precheck.accept_warnings (item names).
        #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
        accept_warnings: Vec<String>,
    },
    /// Stops the task and drops its slots and publications (topics kept unless asked).
    Delete {
        name: String,
        /// Delete the task's Kafka topics too.
        #[arg(long)]
        delete_topics: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Members with their role, lease and shard count, the leader and the health.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// Adds a started worker (its node file names ID and the addresses) to the cluster.
    Add {
        id: u64,
        raft_addr: String,
        admin_addr: String,
    },
    /// Moves a worker's shards to the others, then removes it from the cluster.
    Remove { id: u64 },
}

/// A ctl failure: the line to print and the exit code.
#[derive(Debug)]
pub struct CtlError {
    pub message: String,
    pub code: i32,
    /// Printed on stdout before the error line (a precheck's items).
    pub output: String,
}

impl CtlError {
    fn usage(message: String) -> CtlError {
        CtlError {
            message,
            code: 2,
            output: String::new(),
        }
    }
    fn failed(message: String) -> CtlError {
        CtlError {
            message,
            code: 1,
            output: String::new(),
        }
    }
}

impl From<tonic::Status> for CtlError {
    fn from(s: tonic::Status) -> CtlError {
        let message = if s.message().is_empty() {
            format!("the worker answered {:?}", s.code())
        } else {
            s.message().replace('\n', " ")
        };
        CtlError::failed(message)
    }
}

/// Runs one ctl command, printing its output; returns the exit code.
pub async fn run(args: CtlArgs) -> i32 {
    match execute(&args).await {
        Ok(out) => {
            print!("{out}");
            0
        }
        Err(e) => {
            print!("{}", e.output);
            eprintln!("error: {}", e.message);
            e.code
        }
    }
}

/// Runs one ctl command; returns what it prints.
pub async fn execute(args: &CtlArgs) -> Result<String, CtlError> {
    // Read files first: a typo in a path is reported without touching the cluster.
    let spec = match &args.command {
        CtlCommand::Task(
            TaskCommand::Create { file, .. }
            | TaskCommand::Update { file, .. }
            | TaskCommand::Precheck { file, .. },
        ) => Some(read_task_file(file)?),
        _ => None,
    };
    let mut client = connect(args).await?;
    match &args.command {
        CtlCommand::Task(cmd) => task(&mut client, cmd, spec.unwrap_or_default(), args.json).await,
        CtlCommand::Cluster(ClusterCommand::Status) => {
            let status = client
                .cluster_status(pb::ClusterStatusRequest {})
                .await?
                .into_inner();
            Ok(render(
                &ClusterView::from(status),
                args.json,
                table::cluster,
            ))
        }
        CtlCommand::Worker(cmd) => worker(&mut client, cmd, args.json).await,
    }
}

type Client = AdminClient<InterceptedService<Channel, BearerToken>>;

async fn task(
    client: &mut Client,
    cmd: &TaskCommand,
    spec_toml: String,
    json: bool,
) -> Result<String, CtlError> {
    let (task, done) = match cmd {
        TaskCommand::Create {
            accept_warnings, ..
        } => {
            crate::config::check_item_names("--accept-warnings", accept_warnings)
                .map_err(|e| CtlError::usage(e.to_string()))?;
            let req = pb::CreateTaskRequest {
                spec_toml,
                accept_warnings: accept_warnings.clone(),
            };
            (client.create_task(req).await?, "created")
        }
        TaskCommand::Precheck {
            accept_warnings, ..
        } => return precheck(client, spec_toml, accept_warnings, json).await,
        TaskCommand::List => {
            let tasks = client.list_tasks(pb::ListTasksRequest {}).await?;
            let views: Vec<TaskView> = tasks
                .into_inner()
                .tasks
                .into_iter()
                .map(TaskView::from)
                .collect();
            return Ok(render(&views, json, |v| table::tasks(v)));
        }
        TaskCommand::Get { name } => {
            let task = client
                .get_task(pb::GetTaskRequest { name: name.clone() })
                .await?;
            return Ok(render(
                &TaskView::from(task.into_inner()),
                json,
                table::task,
            ));
        }
        TaskCommand::Update { name, .. } => {
            let req = pb::UpdateTaskRequest {
                name: name.clone(),
                spec_toml,
            };
            (client.update_task(req).await?, "updated")
        }
        TaskCommand::AddTables { name, tables } => {
            let req = pb::AddTablesRequest {
                name: name.clone(),
                tables: tables.clone(),
            };
            (client.add_tables(req).await?, "tables added")
        }
        TaskCommand::Resnapshot { name, table } => {
            let req = pb::ResnapshotTableRequest {
                name: name.clone(),
                table: table.clone(),
            };
            (client.resnapshot_table(req).await?, "re-reading the table")
        }
        TaskCommand::Pause { name } => {
            let req = pb::PauseTaskRequest { name: name.clone() };
            (client.pause_task(req).await?, "paused")
        }
        TaskCommand::Resume { name } => {
            let req = pb::ResumeTaskRequest { name: name.clone() };
            (client.resume_task(req).await?, "resumed")
        }
        TaskCommand::Delete {
            name,
            delete_topics,
        } => {
            let req = pb::DeleteTaskRequest {
                name: name.clone(),
                delete_topics: *delete_topics,
            };
            let out = output::Deleted::new(name, client.delete_task(req).await?.into_inner());
            return Ok(render(&out, json, |d| format!("{}\n", d.message)));
        }
    };
    let view = TaskView::from(task.into_inner());
    Ok(render(&view, json, |v| table::changed(v, done)))
}

/// `task precheck`: the items, and exit 1 (after printing them) when the task could not start.
async fn precheck(
    client: &mut Client,
    spec_toml: String,
    accept_warnings: &[String],
    json: bool,
) -> Result<String, CtlError> {
    crate::config::check_item_names("--accept-warnings", accept_warnings)
        .map_err(|e| CtlError::usage(e.to_string()))?;
    let req = pb::PrecheckTaskRequest {
        spec_toml,
        accept_warnings: accept_warnings.to_vec(),
    };
    let report = output::precheck_report(client.precheck_task(req).await?.into_inner());
    let out = super::precheck::render(&report, json);
    match report.refusal() {
        None => Ok(out),
        Some(line) => Err(CtlError {
            message: format!("task {}: {line}", report.task),
            code: 1,
            output: out,
        }),
    }
}

async fn worker(client: &mut Client, cmd: &WorkerCommand, json: bool) -> Result<String, CtlError> {
    let out = match cmd {
        WorkerCommand::Add {
            id,
            raft_addr,
            admin_addr,
        } => {
            let req = pb::AddWorkerRequest {
                node_id: *id,
                raft_addr: raft_addr.clone(),
                admin_addr: admin_addr.clone(),
            };
            client.add_worker(req).await?;
            output::WorkerChange {
                node_id: *id,
                change: "added",
                message: format!("worker {id} added (raft {raft_addr}, admin {admin_addr})"),
            }
        }
        WorkerCommand::Remove { id } => {
            client
                .remove_worker(pb::RemoveWorkerRequest { node_id: *id })
                .await?;
            output::WorkerChange {
                node_id: *id,
                change: "removed",
                message: format!("worker {id} removed: its shards moved to the other workers"),
            }
        }
    };
    Ok(render(&out, json, |w| format!("{}\n", w.message)))
}

/// JSON (pretty, one document) or the text rendering.
fn render<T: serde::Serialize>(value: &T, json: bool, text: impl FnOnce(&T) -> String) -> String {
    if json {
        let mut s = serde_json::to_string_pretty(value)
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        s.push('\n');
        s
    } else {
        text(value)
    }
}

fn read_task_file(file: &PathBuf) -> Result<String, CtlError> {
    std::fs::read_to_string(file).map_err(|e| {
        CtlError::usage(format!(
            "cannot read task file {}: {e}: check the path",
            file.display()
        ))
    })
}

/// Adds `authorization: Bearer <token>` to every call when a token is given.
#[derive(Clone)]
pub struct BearerToken(Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for BearerToken {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// Connects to the worker at `args.server` (TLS with `--ca`).
async fn connect(args: &CtlArgs) -> Result<Client, CtlError> {
    let endpoint = endpoint(args)?;
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| unreachable(&args.server, &e))?;
    let token = match &args.token {
        Some(t) => Some(format!("Bearer {}", t.trim()).parse().map_err(|_| {
            CtlError::usage("the token has characters a header cannot carry: use the token as the worker's admin.token_file holds it".into())
        })?),
        None => None,
    };
    Ok(AdminClient::with_interceptor(channel, BearerToken(token)))
}

fn endpoint(args: &CtlArgs) -> Result<Endpoint, CtlError> {
    let server = args.server.trim();
    let uri = match (server.contains("://"), &args.ca) {
        (true, _) => server.to_owned(),
        (false, Some(_)) => format!("https://{server}"),
        (false, None) => format!("http://{server}"),
    };
    let bad = |why: String| CtlError::usage(format!("--server {server:?}: {why}"));
    let mut ep = Endpoint::from_shared(uri.clone())
        .map_err(|_| bad("not an address: give host:port, e.g. 127.0.0.1:7101".into()))?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT);
    match (&args.ca, uri.starts_with("https://")) {
        (Some(ca), true) => {
            let pem = std::fs::read(ca).map_err(|e| {
                CtlError::usage(format!(
                    "cannot read --ca {}: {e}: check the path",
                    ca.display()
                ))
            })?;
            let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
            ep = ep
                .tls_config(tls)
                .map_err(|e| bad(format!("TLS: {}", crate::error_chain(&e))))?;
        }
        (Some(_), false) => return Err(bad("--ca needs https:// (or host:port alone)".into())),
        (None, true) => {
            return Err(bad(
                "https:// needs --ca FILE, the CA that signed the worker's admin certificate"
                    .into(),
            ))
        }
        (None, false) => {}
    }
    Ok(ep)
}

/// "cannot reach ADDR: ..." with a hint when nothing listens there.
fn unreachable(server: &str, e: &tonic::transport::Error) -> CtlError {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return CtlError::failed(format!(
                    "cannot reach {server}: connection refused: is the worker running? (`scripts/cluster.sh status`)"
                ));
            }
        }
        cur = err.source();
    }
    CtlError::failed(format!(
        "cannot reach {server}: {}: check --server and that the worker is running",
        crate::error_chain(e)
    ))
}
