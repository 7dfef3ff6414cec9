//! Test certificates made with the `openssl` command, as tests/tls.rs and scripts/lib do: a CA,
//! a server certificate it signed for 127.0.0.1/localhost, a client certificate it signed, and
//! an unrelated CA.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Certs {
    _dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub other_ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("the openssl command (Debian package openssl)");
    assert!(status.success(), "openssl {args:?} failed");
}

fn ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// A certificate for `name` signed by `ca.pem`, with these extensions.
fn leaf(dir: &Path, name: &str, serial: &str, extensions: &str) {
    std::fs::write(dir.join(format!("{name}.ext")), extensions).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            serial,
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

pub fn make() -> Certs {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ca(d, "ca");
    ca(d, "other-ca");
    leaf(
        d,
        "server",
        "2",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    );
    leaf(d, "client", "3", "extendedKeyUsage=clientAuth\n");
    Certs {
        ca: d.join("ca.pem"),
        other_ca: d.join("other-ca.pem"),
        server_cert: d.join("server.pem"),
        server_key: d.join("server.key"),
        client_cert: d.join("client.pem"),
        client_key: d.join("client.key"),
        _dir: dir,
    }
}
