//! The brokers' free log-directory space, read with DescribeLogDirs spoken by hand.
//!
//! Kafka reports a log directory's total and usable bytes only in DescribeLogDirs (API key 35)
//! version 4 and later (Kafka 3.3+, KIP-827). librdkafka, which the sink uses for everything
//! else, has no such call, so this module opens its own short-lived connections and speaks
//! three requests with the `kafka-protocol` crate's codecs: ApiVersions, Metadata (every
//! broker's address) and DescribeLogDirs to each broker. It serves the precheck item
//! `broker_space`, and exactly-once's check that the brokers offer transactions (librdkafka
//! learns only at the first commit that EndTxn is missing). It speaks PLAINTEXT and SSL (OpenSSL, as librdkafka does, with the
//! same `ssl_*` files); SASL is not implemented here, and the caller is told so.

use std::time::Duration;

use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, DescribeLogDirsRequest, DescribeLogDirsResponse,
    MetadataRequest, MetadataResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Message, StrBytes};
use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::KafkaSinkConfig;

/// The API keys spoken here.
const METADATA: i16 = 3;
const API_VERSIONS: i16 = 18;
const DESCRIBE_LOG_DIRS: i16 = 35;
/// The error code of a request version the broker does not speak.
const UNSUPPORTED_VERSION: i16 = 35;
/// The first DescribeLogDirs version with `TotalBytes` and `UsableBytes`.
const SPACE_VERSION: i16 = 4;
/// The largest response read: a DescribeLogDirs answer that names no topic is a few hundred
/// bytes per log directory.
const MAX_RESPONSE: usize = 64 << 20;

/// What the brokers said about their space.
#[derive(Debug, Clone, PartialEq)]
pub enum Space {
    /// Every broker the cluster's metadata names, with its figures or why they are missing.
    Brokers(Vec<BrokerSpace>),
    /// The bootstrap broker does not offer DescribeLogDirs v4: only up to `offered`, if at all.
    NotOffered {
        broker: String,
        offered: Option<i16>,
    },
    /// A SASL protocol: not spoken here.
    Sasl,
}

/// One broker's log directories, summed.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerSpace {
    pub id: i32,
    /// `host:port` as the metadata advertises it.
    pub address: String,
    /// The sums, or why they were not read.
    pub space: Result<DirSums, String>,
}

/// Usable and total bytes summed over a broker's log directories. A directory that reports
/// -1 (unknown) or an error is left out of the sums and counted in `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DirSums {
    pub usable: u64,
    pub total: u64,
    pub dirs: usize,
    pub unknown: usize,
}

/// The brokers' log-directory space, each step bounded by `step`.
pub async fn describe(config: &KafkaSinkConfig, step: Duration) -> Result<Space, String> {
    let security = Security::of(config)?;
    let Some(security) = security else {
        return Ok(Space::Sasl);
    };
    let (address, mut conn) = first_reachable(config, &security, step).await?;
    if let Err(offered) = conn.space_version().await? {
        return Ok(Space::NotOffered {
            broker: address,
            offered,
        });
    }
    let brokers = conn.brokers().await?;
    // Asked side by side: a cluster of unreachable brokers takes one step's time, not one per
    // broker.
    let out = futures::future::join_all(brokers.into_iter().map(|(id, address)| {
        let security = &security;
        async move {
            let space = broker_space(&address, security, step).await;
            BrokerSpace { id, address, space }
        }
    }))
    .await;
    Ok(Space::Brokers(out))
}

/// Whether the first reachable bootstrap broker offers the transaction APIs exactly-once
/// needs (InitProducerId, AddPartitionsToTxn, EndTxn; tansu 0.6 offers only the first).
pub async fn transactions_offered(
    config: &KafkaSinkConfig,
    step: Duration,
) -> Result<Transactions, String> {
    let Some(security) = Security::of(config)? else {
        return Ok(Transactions::NotAsked);
    };
    let (_, mut conn) = first_reachable(config, &security, step).await?;
    let response = conn.api_versions().await?;
    let missing: Vec<&'static str> = TRANSACTION_APIS
        .iter()
        .filter(|(key, _)| !response.api_keys.iter().any(|k| k.api_key == *key))
        .map(|(_, name)| *name)
        .collect();
    Ok(if missing.is_empty() {
        Transactions::Offered
    } else {
        Transactions::Missing(missing)
    })
}

/// The first bootstrap broker that answers a connection, with its address.
async fn first_reachable(
    config: &KafkaSinkConfig,
    security: &Security,
    step: Duration,
) -> Result<(String, Conn), String> {
    let mut last = String::from("destination.bootstrap_servers names no broker");
    for address in config
        .bootstrap_servers
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        match Conn::open(address, security, step).await {
            Ok(c) => return Ok((address.to_owned(), c)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// What the brokers said about transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transactions {
    Offered,
    /// The transaction APIs the broker does not offer.
    Missing(Vec<&'static str>),
    /// A SASL protocol: not spoken here (librdkafka finds out at the first commit).
    NotAsked,
}

/// The transaction APIs, by key.
const TRANSACTION_APIS: [(i16, &str); 3] = [
    (22, "InitProducerId"),
    (24, "AddPartitionsToTxn"),
    (26, "EndTxn"),
];

/// One broker's sums: its own connection, its own ApiVersions, DescribeLogDirs.
async fn broker_space(
    address: &str,
    security: &Security,
    step: Duration,
) -> Result<DirSums, String> {
    let mut conn = Conn::open(address, security, step).await?;
    let Ok(version) = conn.space_version().await? else {
        return Err("does not offer DescribeLogDirs v4 (Kafka 3.3+ does)".into());
    };
    // An empty topic list (not null, which means every partition) asks for the directories
    // alone: the answer stays small however many partitions the broker holds.
    let request = DescribeLogDirsRequest::default().with_topics(Some(Vec::new()));
    let response: DescribeLogDirsResponse = conn.call(DESCRIBE_LOG_DIRS, &request, version).await?;
    sums(&response)
}

/// The sums of a DescribeLogDirs response (v4+), or its error.
pub fn sums(response: &DescribeLogDirsResponse) -> Result<DirSums, String> {
    if response.error_code != 0 {
        return Err(error_text("DescribeLogDirs", response.error_code));
    }
    let mut s = DirSums::default();
    for dir in &response.results {
        s.dirs += 1;
        if dir.error_code != 0 || dir.usable_bytes < 0 || dir.total_bytes < 0 {
            s.unknown += 1;
            continue;
        }
        s.usable = s.usable.saturating_add(dir.usable_bytes as u64);
        s.total = s.total.saturating_add(dir.total_bytes as u64);
    }
    Ok(s)
}

/// A Kafka error code with the names a refusal here most likely has.
fn error_text(call: &str, code: i16) -> String {
    let name = match code {
        31 => " (CLUSTER_AUTHORIZATION_FAILED: the principal lacks DESCRIBE on the cluster)",
        35 => " (UNSUPPORTED_VERSION)",
        _ => "",
    };
    format!("{call} answered error code {code}{name}")
}

/// How to reach the brokers; `None` from `of` for a SASL protocol.
enum Security {
    Plaintext,
    Ssl(Box<SslConnector>, bool),
}

impl Security {
    fn of(config: &KafkaSinkConfig) -> Result<Option<Security>, String> {
        let protocol = config
            .security_protocol
            .as_deref()
            .unwrap_or("plaintext")
            .to_ascii_lowercase();
        match protocol.as_str() {
            "plaintext" => Ok(Some(Security::Plaintext)),
            "ssl" => Self::ssl(config).map(Some),
            _ => Ok(None),
        }
    }

    /// The same files librdkafka is given, read by the same library; the raw properties that
    /// turn verification off are honoured as librdkafka honours them.
    fn ssl(config: &KafkaSinkConfig) -> Result<Security, String> {
        let err = |what: &str, e: openssl::error::ErrorStack| format!("{what}: {e}");
        let mut b = SslConnector::builder(SslMethod::tls()).map_err(|e| err("TLS setup", e))?;
        if let Some(ca) = &config.ssl_ca_location {
            let path = std::path::Path::new(ca);
            let r = if path.is_dir() {
                b.load_verify_locations(None, Some(path))
            } else {
                b.set_ca_file(path)
            };
            r.map_err(|e| err(&format!("ssl_ca_location {ca}"), e))?;
        }
        if let Some(cert) = &config.ssl_certificate_location {
            b.set_certificate_chain_file(cert)
                .map_err(|e| err(&format!("ssl_certificate_location {cert}"), e))?;
        }
        if let Some(key) = &config.ssl_key_location {
            b.set_private_key_file(key, SslFiletype::PEM)
                .map_err(|e| err(&format!("ssl_key_location {key}"), e))?;
        }
        let property = |k: &str| config.properties.get(k).map(|v| v.to_ascii_lowercase());
        if property("enable.ssl.certificate.verification").as_deref() == Some("false") {
            b.set_verify(SslVerifyMode::NONE);
        }
        let hostname = property("ssl.endpoint.identification.algorithm").as_deref() != Some("none");
        Ok(Security::Ssl(Box::new(b.build()), hostname))
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One connection to one broker.
struct Conn {
    io: Box<dyn Io>,
    address: String,
    step: Duration,
    correlation: i32,
    /// The Metadata version to send, from ApiVersions.
    metadata_version: i16,
}

impl Conn {
    async fn open(address: &str, security: &Security, step: Duration) -> Result<Conn, String> {
        let fail = |e: &dyn std::fmt::Display| format!("cannot connect to {address}: {e}");
        let tcp = tokio::time::timeout(step, TcpStream::connect(address))
            .await
            .map_err(|_| fail(&format!("no answer within {step:?}")))?
            .map_err(|e| fail(&e))?;
        let io: Box<dyn Io> = match security {
            Security::Plaintext => Box::new(tcp),
            Security::Ssl(connector, verify_hostname) => {
                let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let mut ssl = connector.configure().map_err(|e| fail(&e))?;
                ssl.set_verify_hostname(*verify_hostname);
                let ssl = ssl.into_ssl(host).map_err(|e| fail(&e))?;
                let mut stream = tokio_openssl::SslStream::new(ssl, tcp).map_err(|e| fail(&e))?;
                tokio::time::timeout(step, std::pin::Pin::new(&mut stream).connect())
                    .await
                    .map_err(|_| fail(&format!("no TLS handshake within {step:?}")))?
                    .map_err(|e| fail(&format!("TLS: {e}")))?;
                Box::new(stream)
            }
        };
        Ok(Conn {
            io,
            address: address.to_owned(),
            step,
            correlation: 0,
            metadata_version: 1,
        })
    }

    /// The DescribeLogDirs version to use (the highest both sides speak) if it is 4 or later,
    /// else the highest the broker offers, if any.
    async fn space_version(&mut self) -> Result<Result<i16, Option<i16>>, String> {
        let response = self.api_versions().await?;
        let max = |key: i16, ours: i16| {
            response
                .api_keys
                .iter()
                .find(|k| k.api_key == key)
                .map(|k| k.max_version.min(ours))
        };
        if let Some(v) = max(METADATA, MetadataRequest::VERSIONS.max) {
            self.metadata_version = v.max(1);
        }
        Ok(
            match max(DESCRIBE_LOG_DIRS, DescribeLogDirsRequest::VERSIONS.max) {
                Some(v) if v >= SPACE_VERSION => Ok(v),
                offered => Err(offered),
            },
        )
    }

    /// The broker's ApiVersions answer.
    async fn api_versions(&mut self) -> Result<ApiVersionsResponse, String> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("tributary"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut response: ApiVersionsResponse = self.call(API_VERSIONS, &request, 3).await?;
        if response.error_code == UNSUPPORTED_VERSION {
            // An older broker (librdkafka's mock cluster among them) speaks v0 only.
            response = self
                .call(API_VERSIONS, &ApiVersionsRequest::default(), 0)
                .await?;
        }
        if response.error_code != 0 {
            return Err(format!(
                "{}: {}",
                self.address,
                error_text("ApiVersions", response.error_code)
            ));
        }
        Ok(response)
    }

    /// Every broker's id and `host:port` from a Metadata request that names no topic.
    async fn brokers(&mut self) -> Result<Vec<(i32, String)>, String> {
        // v1 is the first where an empty topic list means "none"; the broker fields read here
        // are the same in every later version.
        let request = MetadataRequest::default()
            .with_topics(Some(Vec::new()))
            .with_allow_auto_topic_creation(false);
        let response: MetadataResponse =
            self.call(METADATA, &request, self.metadata_version).await?;
        let mut brokers: Vec<(i32, String)> = response
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", &*b.host, b.port)))
            .collect();
        brokers.sort();
        Ok(brokers)
    }

    /// Sends `request` as `version` of API `key` and reads its response.
    async fn call<Q, R>(&mut self, key: i16, request: &Q, version: i16) -> Result<R, String>
    where
        Q: Encodable + HeaderVersion,
        R: Decodable + HeaderVersion,
    {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("tributary-precheck")));
        let mut frame = vec![0; 4];
        let encode = |e: anyhow::Error| format!("cannot encode API {key} v{version}: {e}");
        header
            .encode(&mut frame, Q::header_version(version))
            .map_err(encode)?;
        request.encode(&mut frame, version).map_err(encode)?;
        let len = (frame.len() - 4) as i32;
        frame[..4].copy_from_slice(&len.to_be_bytes());
        let address = self.address.clone();
        let io_err = |e: std::io::Error| format!("{address}: {e}");
        let timed_out = || format!("{address}: no answer to API {key} within {:?}", self.step);
        let body = tokio::time::timeout(self.step, async {
            self.io.write_all(&frame).await.map_err(io_err)?;
            self.io.flush().await.map_err(io_err)?;
            let mut len = [0u8; 4];
            self.io.read_exact(&mut len).await.map_err(io_err)?;
            let len = i32::from_be_bytes(len);
            if len < 0 || len as usize > MAX_RESPONSE {
                return Err(format!("{address}: a response of {len} bytes"));
            }
            let mut body = vec![0; len as usize];
            self.io.read_exact(&mut body).await.map_err(io_err)?;
            Ok(body)
        })
        .await
        .map_err(|_| timed_out())??;
        decode(&body, version, self.correlation).map_err(|e| format!("{}: {e}", self.address))
    }
}

/// A response frame's body (after the length): its header, checked against `correlation`,
/// then the message as `version`.
pub fn decode<R: Decodable + HeaderVersion>(
    mut body: &[u8],
    version: i16,
    correlation: i32,
) -> Result<R, String> {
    let header = ResponseHeader::decode(&mut body, R::header_version(version))
        .map_err(|e| format!("cannot decode the response header: {e}"))?;
    if header.correlation_id != correlation {
        return Err(format!(
            "response to request {} where {correlation} was expected",
            header.correlation_id
        ));
    }
    R::decode(&mut body, version).map_err(|e| format!("cannot decode the response: {e}"))
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::describe_log_dirs_response::DescribeLogDirsResult;

    use super::*;

    fn dir(name: &'static str, usable: i64, total: i64) -> DescribeLogDirsResult {
        DescribeLogDirsResult::default()
            .with_log_dir(StrBytes::from_static_str(name))
            .with_usable_bytes(usable)
            .with_total_bytes(total)
    }

    /// A DescribeLogDirs v4 response as a broker encodes it, decoded through `decode` and
    /// summed: the unknown (-1) and failed directories are left out and counted.
    #[test]
    fn a_v4_response_is_decoded_and_summed() {
        let response = DescribeLogDirsResponse::default().with_results(vec![
            dir("/a", 3 << 30, 10 << 30),
            dir("/b", 1 << 30, 5 << 30),
            dir("/c", -1, -1),
            dir("/d", 7, 9).with_error_code(57),
        ]);
        let mut frame = Vec::new();
        ResponseHeader::default()
            .with_correlation_id(7)
            .encode(&mut frame, DescribeLogDirsResponse::header_version(4))
            .unwrap();
        response.encode(&mut frame, 4).unwrap();
        let decoded: DescribeLogDirsResponse = decode(&frame, 4, 7).unwrap();
        assert_eq!(decoded, response);
        assert_eq!(
            sums(&decoded).unwrap(),
            DirSums {
                usable: 4 << 30,
                total: 15 << 30,
                dirs: 4,
                unknown: 2,
            }
        );
        let wrong: Result<DescribeLogDirsResponse, _> = decode(&frame, 4, 8);
        assert!(wrong.unwrap_err().contains("7 where 8"));
    }

    #[test]
    fn a_refused_request_is_an_error_with_its_name() {
        let response = DescribeLogDirsResponse::default().with_error_code(31);
        let e = sums(&response).unwrap_err();
        assert!(e.contains("CLUSTER_AUTHORIZATION_FAILED"), "{e}");
    }
}
