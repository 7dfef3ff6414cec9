//! Compiles the gRPC services in `proto/` (admin API and node-to-node Raft) with a vendored
//! `protoc`, so a fresh machine needs no protobuf compiler.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos: Vec<&str> = [
        "proto/tributary/admin/v1/admin.proto",
        "proto/tributary/raft/v1/raft.proto",
    ]
    .into_iter()
    .filter(|p| std::path::Path::new(p).exists())
    .collect();
    println!("cargo:rerun-if-changed=proto");
    if protos.is_empty() {
        return Ok(());
    }
    std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?);
    tonic_build::configure().compile_protos(&protos, &["proto"])?;
    Ok(())
}
