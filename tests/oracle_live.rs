//! The Oracle source against a live Oracle Database: the compose service (`docker compose
//! --profile oracle up`, set up by `scripts/oracle/setup.sh`) or any database prepared the same
//! way. It runs when `TRIBUTARY_TEST_ORACLE_URL` is set to
//! `oracle://USER:PASSWORD@HOST:PORT/SERVICE` and the tests are built with `--features oracle`;
//! otherwise it passes after printing that it was skipped and why. No Oracle Database can run
//! on this project's machines, so CI skips it: the scripted stand-in (`tests/oracle_source.rs`)
//! runs the same source there.
//!
//! What it checks: the dictionary read, a full load AS OF SCN, then INSERT/UPDATE/DELETE mined
//! from the redo into the real broker, in the Debezium format, compared row by row.

mod support;

const VAR: &str = "TRIBUTARY_TEST_ORACLE_URL";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_oracle_is_migrated_snapshot_then_redo() {
    let Ok(url) = std::env::var(VAR) else {
        eprintln!(
            "skipped: {VAR} is not set (no live Oracle here; set it to oracle://USER:PASSWORD@HOST:PORT/SERVICE of the compose service)"
        );
        return;
    };
    #[cfg(not(feature = "oracle"))]
    {
        eprintln!("skipped: {VAR}={url} is set but the tests were built without --features oracle");
    }
    #[cfg(feature = "oracle")]
    live::run(&url).await;
}

#[cfg(feature = "oracle")]
mod live {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::Value;
    use tokio::sync::watch;
    use tributary::checkpoint::{MemoryCheckpointStore, ShardKey};
    use tributary::config::TaskSpec;
    use tributary::metrics::ShardLabels;
    use tributary::pipeline::stats::Stats;
    use tributary::sink::kafka::KafkaSink;
    use tributary::source::oracle::source::real_source;
    use tributary::task::{kafka_config, run_shard, Epoch, ShardRuntime, TaskError};

    use super::support::*;

    struct Url {
        user: String,
        password: String,
        host: String,
        port: u16,
        service: String,
    }

    fn parse(url: &str) -> Url {
        let rest = url
            .strip_prefix("oracle://")
            .expect("oracle://USER:PASSWORD@HOST:PORT/SERVICE");
        let (auth, addr) = rest.rsplit_once('@').expect("USER:PASSWORD@");
        let (user, password) = auth.split_once(':').expect("USER:PASSWORD");
        let (hostport, service) = addr.split_once('/').expect("/SERVICE");
        let (host, port) = hostport.split_once(':').unwrap_or((hostport, "1521"));
        Url {
            user: user.into(),
            password: password.into(),
            host: host.into(),
            port: port.parse().expect("a port number"),
            service: service.into(),
        }
    }

    fn sql(u: &Url, statements: &[String]) {
        let config = oracledb::Config::default()
            .set_credentials(&u.user, &u.password)
            .set_connect_string(&format!("{}:{}/{}", u.host, u.port, u.service))
            .unwrap();
        let conn = oracledb::connect(config).expect("connecting to the live Oracle");
        for s in statements {
            conn.execute(s, &[]).unwrap_or_else(|e| panic!("{s}: {e}"));
        }
        conn.commit().unwrap();
    }

    pub async fn run(url: &str) {
        let u = parse(url);
        let owner = u.user.to_uppercase();
        let table = format!("LIVE_{}", std::process::id());
        let q = format!("\"{owner}\".\"{table}\"");
        sql(
            &u,
            &[
                format!("CREATE TABLE {q} (ID NUMBER(10) PRIMARY KEY, NAME VARCHAR2(40), AMOUNT NUMBER(10,2), AT DATE)"),
                format!("ALTER TABLE {q} ADD SUPPLEMENTAL LOG DATA (ALL) COLUMNS"),
                format!("INSERT INTO {q} VALUES (1, 'Ann', 10.5, DATE '2024-01-02')"),
                format!("INSERT INTO {q} VALUES (2, 'Bob', NULL, DATE '2024-01-03')"),
            ],
        );
        let name = unique("ora_live");
        let spec = TaskSpec::parse(&format!(
            "name = {name:?}\n[source]\nkind = \"oracle\"\nhost = {:?}\nport = {}\n\
             service_name = {:?}\nuser = {:?}\npassword = {:?}\n\
             [destination]\nkind = \"kafka\"\nbootstrap_servers = {:?}\nformat = \"debezium_json\"\n\
             [destination.debezium]\ndecimal_handling_mode = \"string\"\n\
             [objects]\ntables = [\"{owner}.{table}\"]\n\
             [migration]\nphases = [\"full\", \"incremental\"]\ncheckpoint_interval = \"200ms\"\n",
            u.host,
            u.port,
            u.service,
            u.user,
            u.password,
            kafka()
        ))
        .unwrap();
        let (stop, shutdown) = watch::channel(false);
        let rt = ShardRuntime {
            key: ShardKey {
                task: name.clone(),
                shard: 0,
            },
            epoch: Epoch::TakeOver,
            store: Arc::new(MemoryCheckpointStore::new()),
            stats: Arc::new(Stats::default()),
            shutdown,
            until: None,
            status: None,
            limits: None,
            specs: None,
            spec: spec.clone(),
        };
        let s2 = spec.clone();
        let run = tokio::spawn(async move {
            let source = || -> Result<_, TaskError> { Ok(real_source(&s2, 0)?) };
            let sink = |labels: &ShardLabels, _: &str| -> Result<KafkaSink, TaskError> {
                Ok(KafkaSink::new(kafka_config(&s2)?, labels)?)
            };
            run_shard(rt, source, sink).await
        });
        let topic = format!("{name}.{owner}.{table}");
        consume_until(&topic, |m| values(m).len() >= 2);
        sql(
            &u,
            &[
                format!("INSERT INTO {q} VALUES (3, 'Cy', 3, DATE '2024-01-04')"),
                format!("UPDATE {q} SET NAME = 'Ann B' WHERE ID = 1"),
                format!("DELETE FROM {q} WHERE ID = 2"),
            ],
        );
        let msgs = consume_until(&topic, |m| values(m).len() >= 5);
        let mut state = BTreeMap::new();
        for v in values(&msgs) {
            let op = v["op"].as_str().unwrap();
            let image = if op == "d" { &v["before"] } else { &v["after"] };
            let id = image["ID"].to_string();
            if op == "d" {
                state.remove(&id);
            } else {
                state.insert(id, image["NAME"].clone());
            }
        }
        let want: BTreeMap<String, Value> = [("\"1\"", "Ann B"), ("\"3\"", "Cy")]
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        assert_eq!(state, want, "{msgs:#?}");
        stop.send(true).unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(60), run).await;
        sql(&u, &[format!("DROP TABLE {q} PURGE")]);
    }
}
