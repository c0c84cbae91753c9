//! TLS, mutual TLS and the serving policy end to end, with certificates made at test time
//! (rcgen): one `check` starts a server as a scenario says, connects the typed client as it
//! says, makes one call, and compares what happened with the expectation. Every scenario
//! has its own server on a free port; connections go to 127.0.0.1 only.

use std::time::Duration;

use gridledger_api::client::{BearerToken, Client, ClientError, ClientOptions, ClientTls, RetryPolicy, RpcCode};
use gridledger_api::{CommandMeta, IssueReport};
use gridledger_domain::{CategoryCode, Field, FreeText, GridCode, IssueTitle, PersonId, Registry};
use gridledger_server::auth::{hash_secret, hash_secret_hex, parse_token, token_for};
use gridledger_server::{AuthConfig, ServerConfig, ServerError, TlsConfig};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// A certificate and its key, PEM.
#[derive(Debug, Clone)]
struct Pem {
    certificate: Vec<u8>,
    key: Vec<u8>,
}

/// A CA and what it signed, made for this test run.
struct Pki {
    ca: Vec<u8>,
    server: Pem,
    /// Client certificates by subject CN.
    clients: Vec<(&'static str, Pem)>,
    /// A client certificate for `auditor-1` from a CA the server does not know.
    foreign_client: Pem,
}

fn make_ca(name: &str) -> anyhow::Result<(Vec<u8>, Issuer<'static, KeyPair>)> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let certificate = params.self_signed(&key)?;
    Ok((certificate.pem().into_bytes(), Issuer::new(params, key)))
}

fn sign(issuer: &Issuer<'static, KeyPair>, common_name: &str, server: bool) -> anyhow::Result<Pem> {
    let key = KeyPair::generate()?;
    let names = if server {
        vec!["localhost".to_owned(), "127.0.0.1".to_owned()]
    } else {
        Vec::new()
    };
    let mut params = CertificateParams::new(names)?;
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.extended_key_usages = vec![if server {
        ExtendedKeyUsagePurpose::ServerAuth
    } else {
        ExtendedKeyUsagePurpose::ClientAuth
    }];
    let certificate = params.signed_by(&key, issuer)?;
    Ok(Pem {
        certificate: certificate.pem().into_bytes(),
        key: key.serialize_pem().into_bytes(),
    })
}

fn pki() -> anyhow::Result<Pki> {
    let (ca, issuer) = make_ca("gridledger test CA")?;
    let (_, foreign) = make_ca("someone else's CA")?;
    Ok(Pki {
        ca,
        server: sign(&issuer, "localhost", true)?,
        clients: vec![
            ("auditor-1", sign(&issuer, "auditor-1", false)?),
            ("worker-1", sign(&issuer, "worker-1", false)?),
            ("stranger", sign(&issuer, "stranger", false)?),
        ],
        foreign_client: sign(&foreign, "auditor-1", false)?,
    })
}

/// The principals: an auditor of the district and a grid worker of one grid.
const PRINCIPALS: [(&str, &str, &str); 2] = [
    ("auditor-1", "auditor", "runzhou"),
    ("worker-1", "grid_worker", "runzhou.s1.c01.g01"),
];

fn token(id: &str) -> String {
    token_for(id, &hash_secret(id))
}

fn principals_json() -> String {
    let entries: Vec<serde_json::Value> = PRINCIPALS
        .iter()
        .map(|(id, role, scope)| {
            let token = token(id);
            let (_, secret) = parse_token(&token).unwrap_or_default();
            serde_json::json!({"id": id, "role": role, "scopes": [scope], "token_sha256": hash_secret_hex(secret)})
        })
        .collect();
    serde_json::json!({ "principals": entries }).to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tls {
    Off,
    On,
    /// With `--tls-client-ca`.
    Mutual,
    /// A key that is not a key.
    BadKey,
}

#[derive(Debug, Clone, Copy)]
struct ServerSetup {
    /// `127.0.0.1:0`, or every address (`0.0.0.0:0`).
    all_addresses: bool,
    auth: bool,
    tls: Tls,
    insecure: bool,
}

#[derive(Debug, Clone, Copy)]
enum Certificate {
    /// Signed by the server's client CA, with this CN.
    Ours(&'static str),
    /// Signed by a CA the server does not know.
    Foreign,
}

#[derive(Debug, Clone, Copy)]
struct ClientSetup {
    https: bool,
    /// Trust the test CA (otherwise the system's roots).
    ca: bool,
    certificate: Option<Certificate>,
    /// The principal whose token is sent.
    token: Option<&'static str>,
}

#[derive(Debug, Clone, Copy)]
enum Call {
    VerifyLog,
    ReportIssue,
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    Ok,
    /// The call succeeds and the event records this actor.
    OkAs(&'static str),
    /// The server answers with this code.
    Refused(RpcCode),
    /// No call gets through: the connection fails (or its first call fails on the transport).
    NoConnection,
    /// The client refuses its options before connecting.
    BadOptions,
    /// The server does not start; its error says this.
    NoStart(&'static str),
}

#[derive(Debug, Clone, Copy)]
struct Scenario {
    name: &'static str,
    server: ServerSetup,
    client: ClientSetup,
    call: Call,
    expect: Expect,
}

const LOOPBACK_MUTUAL: ServerSetup = ServerSetup {
    all_addresses: false,
    auth: true,
    tls: Tls::Mutual,
    insecure: false,
};

const HTTPS_WITH_CA: ClientSetup = ClientSetup {
    https: true,
    ca: true,
    certificate: None,
    token: None,
};

fn report() -> anyhow::Result<IssueReport> {
    Ok(IssueReport {
        issue_id: None,
        grid: GridCode::parse("runzhou.s1.c01.g01")?,
        category: CategoryCode::parse("environment")?,
        title: IssueTitle::parse("Broken street light")?,
        description: FreeText::parse(Field::Description, "reported over TLS")?,
        reporter_id: PersonId::parse(Field::Reporter, "resident-1")?,
        evidence: Default::default(),
        location: None,
    })
}

/// The typed client's options for `setup`.
fn options(pki: &Pki, setup: &ClientSetup) -> ClientOptions {
    let (certificate, key) = match setup.certificate {
        None => (None, None),
        Some(Certificate::Ours(name)) => {
            let pem = pki
                .clients
                .iter()
                .find(|(cn, _)| *cn == name)
                .map(|(_, pem)| pem.clone());
            (pem.as_ref().map(|pem| pem.certificate.clone()), pem.map(|pem| pem.key))
        }
        Some(Certificate::Foreign) => (
            Some(pki.foreign_client.certificate.clone()),
            Some(pki.foreign_client.key.clone()),
        ),
    };
    ClientOptions {
        actor: None,
        token: setup.token.map(|id| BearerToken::new(token(id))),
        tls: ClientTls {
            ca_certificate_pem: setup.ca.then(|| pki.ca.clone()),
            client_certificate_pem: certificate,
            client_key_pem: key,
            domain_name: None,
        },
    }
}

/// Whether a failed call failed on the transport rather than by the server's answer.
fn is_transport_failure(error: &ClientError) -> bool {
    match error {
        ClientError::Connect { .. } | ClientError::Tls { .. } => true,
        ClientError::Rpc { code, .. } => matches!(
            code,
            RpcCode::Unavailable | RpcCode::Unknown | RpcCode::Internal | RpcCode::Cancelled
        ),
        _ => false,
    }
}

/// Runs one scenario; what went differently, if anything.
async fn check(pki: &Pki, scenario: &Scenario) -> anyhow::Result<Result<(), String>> {
    let directory = tempfile::tempdir()?;
    let principals_file = directory.path().join("principals.json");
    std::fs::write(&principals_file, principals_json())?;
    let setup = scenario.server;
    let tls = match setup.tls {
        Tls::Off => None,
        Tls::On | Tls::Mutual | Tls::BadKey => Some(TlsConfig {
            certificate_pem: pki.server.certificate.clone(),
            key_pem: if setup.tls == Tls::BadKey {
                b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n".to_vec()
            } else {
                pki.server.key.clone()
            },
            client_ca_pem: (setup.tls == Tls::Mutual).then(|| pki.ca.clone()),
        }),
    };
    let config = ServerConfig {
        data_dir: directory.path().join("data"),
        listen: if setup.all_addresses {
            "0.0.0.0:0"
        } else {
            "127.0.0.1:0"
        }
        .parse()?,
        http: None,
        registry: Registry::builtin_runzhou(),
        auth: setup.auth.then(|| AuthConfig {
            reload_on_sighup: false,
            ..AuthConfig::new(&principals_file)
        }),
        tls,
        insecure_allow_non_loopback: setup.insecure,
        nats: None,
        checkpoints: gridledger_server::CheckpointConfig::default(),
    };
    let policy = config.serving_policy();
    let outcome = |problem: Option<String>| {
        Ok(match problem {
            None => Ok(()),
            Some(problem) => Err(format!("{}: {problem} (policy: {policy})", scenario.name)),
        })
    };
    let server = match (
        gridledger_server::start(config, std::future::pending()).await,
        scenario.expect,
    ) {
        (Err(error), Expect::NoStart(text)) => {
            let message = format!("{error}");
            let refused_as_expected =
                message.contains(text) && matches!(error, ServerError::NotLoopback { .. } | ServerError::Security(_));
            return outcome((!refused_as_expected).then(|| format!("refused with {message:?}, not {text:?}")));
        }
        (Err(error), _) => return outcome(Some(format!("the server did not start: {error:#}"))),
        (Ok(server), Expect::NoStart(text)) => {
            server.shutdown().await?;
            return outcome(Some(format!("the server started; expected a refusal saying {text:?}")));
        }
        (Ok(server), _) => server,
    };
    let url = format!(
        "{}://127.0.0.1:{}",
        if scenario.client.https { "https" } else { "http" },
        server.local_addr.port()
    );
    let attempt = async {
        let client = Client::connect_with(&url, &options(pki, &scenario.client))
            .await?
            .with_retry_policy(RetryPolicy {
                attempts: 1,
                timeout: Duration::from_secs(20),
                first_backoff: Duration::from_millis(10),
            });
        match scenario.call {
            Call::VerifyLog => client.verify_log(0, 0).await.map(|_| None),
            Call::ReportIssue => {
                let report = report().map_err(|_| ClientError::TlsOptions {
                    reason: "the test's report is invalid".to_owned(),
                })?;
                let ack = client.report(&CommandMeta::with_fresh_request_id(), &report).await?;
                Ok(Some(ack.issue_id))
            }
        }
    };
    let result = tokio::time::timeout(Duration::from_secs(60), attempt).await?;
    let problem = match (&result, scenario.expect) {
        (Ok(None), Expect::Ok) => None,
        (Ok(Some(issue_id)), Expect::OkAs(actor)) => {
            // Read back as the auditor, over the same TLS.
            let auditor = ClientSetup {
                token: Some("auditor-1"),
                certificate: None,
                ..scenario.client
            };
            let history = Client::connect_with(&url, &options(pki, &auditor))
                .await?
                .issue_history(*issue_id)
                .await?;
            let recorded = history.last().map(|event| event.record.actor_id.clone());
            (recorded.as_deref() != Some(actor)).then(|| format!("recorded actor {recorded:?}, expected {actor:?}"))
        }
        (Err(error), Expect::Refused(code)) => {
            (error.code() != Some(code)).then(|| format!("failed with {error:#?}, expected {code:?}"))
        }
        (Err(error), Expect::NoConnection) => {
            (!is_transport_failure(error)).then(|| format!("failed with {error:?}, expected a transport failure"))
        }
        (Err(ClientError::TlsOptions { .. }), Expect::BadOptions) => None,
        (result, expect) => Some(format!("got {result:?}, expected {expect:?}")),
    };
    server.shutdown().await?;
    outcome(problem)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_mutual_tls_and_the_serving_policy() -> anyhow::Result<()> {
    let pki = pki()?;
    let loopback_tls = ServerSetup {
        tls: Tls::On,
        ..LOOPBACK_MUTUAL
    };
    let mutual_without_auth = ServerSetup {
        auth: false,
        ..LOOPBACK_MUTUAL
    };
    let plaintext = ServerSetup {
        tls: Tls::Off,
        ..LOOPBACK_MUTUAL
    };
    let token = |id| ClientSetup {
        token: Some(id),
        ..HTTPS_WITH_CA
    };
    let certificate = |certificate| ClientSetup {
        certificate: Some(certificate),
        ..HTTPS_WITH_CA
    };
    let everywhere = |auth, tls, insecure| ServerSetup {
        all_addresses: true,
        auth,
        tls,
        insecure,
    };
    let plaintext_client = ClientSetup {
        https: false,
        ca: false,
        ..token("auditor-1")
    };
    let scenarios = [
        Scenario {
            name: "a token over TLS",
            server: loopback_tls,
            client: token("auditor-1"),
            call: Call::VerifyLog,
            expect: Expect::Ok,
        },
        Scenario {
            name: "TLS without credentials",
            server: loopback_tls,
            client: HTTPS_WITH_CA,
            call: Call::VerifyLog,
            expect: Expect::Refused(RpcCode::Unauthenticated),
        },
        Scenario {
            name: "a token's role still counts over TLS",
            server: loopback_tls,
            client: token("worker-1"),
            call: Call::VerifyLog,
            expect: Expect::Refused(RpcCode::PermissionDenied),
        },
        Scenario {
            name: "a plaintext client to a TLS server",
            server: loopback_tls,
            client: plaintext_client,
            call: Call::VerifyLog,
            expect: Expect::NoConnection,
        },
        Scenario {
            name: "a server certificate from an unknown CA",
            server: loopback_tls,
            client: ClientSetup {
                ca: false,
                ..token("auditor-1")
            },
            call: Call::VerifyLog,
            expect: Expect::NoConnection,
        },
        Scenario {
            name: "a TLS client to a plaintext server",
            server: plaintext,
            client: token("auditor-1"),
            call: Call::VerifyLog,
            expect: Expect::NoConnection,
        },
        Scenario {
            name: "TLS options with an http:// URL",
            server: plaintext,
            client: ClientSetup {
                https: false,
                ..token("auditor-1")
            },
            call: Call::VerifyLog,
            expect: Expect::BadOptions,
        },
        Scenario {
            name: "a client certificate names the principal",
            server: LOOPBACK_MUTUAL,
            client: certificate(Certificate::Ours("auditor-1")),
            call: Call::VerifyLog,
            expect: Expect::Ok,
        },
        Scenario {
            name: "the certificate's principal is recorded as the actor",
            server: LOOPBACK_MUTUAL,
            client: certificate(Certificate::Ours("worker-1")),
            call: Call::ReportIssue,
            expect: Expect::OkAs("worker-1"),
        },
        Scenario {
            name: "the certificate's principal keeps to its role",
            server: LOOPBACK_MUTUAL,
            client: certificate(Certificate::Ours("worker-1")),
            call: Call::VerifyLog,
            expect: Expect::Refused(RpcCode::PermissionDenied),
        },
        Scenario {
            name: "a certificate naming no principal",
            server: LOOPBACK_MUTUAL,
            client: certificate(Certificate::Ours("stranger")),
            call: Call::VerifyLog,
            expect: Expect::Refused(RpcCode::Unauthenticated),
        },
        Scenario {
            name: "a client certificate from another CA",
            server: LOOPBACK_MUTUAL,
            client: certificate(Certificate::Foreign),
            call: Call::VerifyLog,
            expect: Expect::NoConnection,
        },
        Scenario {
            name: "tokens keep working beside mutual TLS",
            server: LOOPBACK_MUTUAL,
            client: token("worker-1"),
            call: Call::ReportIssue,
            expect: Expect::OkAs("worker-1"),
        },
        Scenario {
            name: "a token wins over a certificate",
            server: LOOPBACK_MUTUAL,
            client: ClientSetup {
                token: Some("auditor-1"),
                ..certificate(Certificate::Ours("worker-1"))
            },
            call: Call::VerifyLog,
            expect: Expect::Ok,
        },
        Scenario {
            name: "mutual TLS without auth: a certificate is enough",
            server: mutual_without_auth,
            client: certificate(Certificate::Ours("stranger")),
            call: Call::VerifyLog,
            expect: Expect::Ok,
        },
        Scenario {
            name: "mutual TLS without auth: no certificate, no call",
            server: mutual_without_auth,
            client: HTTPS_WITH_CA,
            call: Call::VerifyLog,
            expect: Expect::NoConnection,
        },
        Scenario {
            name: "off loopback without auth",
            server: everywhere(false, Tls::Off, false),
            client: plaintext_client,
            call: Call::VerifyLog,
            expect: Expect::NoStart("refusing to serve on 0.0.0.0:0 without authentication"),
        },
        Scenario {
            name: "off loopback with auth but no TLS",
            server: everywhere(true, Tls::Off, false),
            client: plaintext_client,
            call: Call::VerifyLog,
            expect: Expect::NoStart("refusing to serve on 0.0.0.0:0 without TLS"),
        },
        Scenario {
            name: "off loopback without auth, --insecure",
            server: everywhere(false, Tls::Off, true),
            client: ClientSetup {
                https: false,
                ca: false,
                token: None,
                certificate: None,
            },
            call: Call::VerifyLog,
            expect: Expect::Ok,
        },
        Scenario {
            name: "off loopback with auth and TLS",
            server: everywhere(true, Tls::On, false),
            client: token("auditor-1"),
            call: Call::VerifyLog,
            expect: Expect::Ok,
        },
        Scenario {
            name: "an unusable server key",
            server: ServerSetup {
                tls: Tls::BadKey,
                ..LOOPBACK_MUTUAL
            },
            client: token("auditor-1"),
            call: Call::VerifyLog,
            expect: Expect::NoStart("the TLS certificate, key or client CA is not usable"),
        },
    ];
    let mut failures = Vec::new();
    for scenario in &scenarios {
        if let Err(failure) = check(&pki, scenario).await? {
            failures.push(failure);
        }
    }
    anyhow::ensure!(
        failures.is_empty(),
        "{} of {} scenarios went wrong:\n{}",
        failures.len(),
        scenarios.len(),
        failures.join("\n")
    );
    Ok(())
}

/// A child process, killed if the test ends before the child does.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn the_binary_refuses_to_listen_off_loopback_without_auth_unless_insecure_and_says_so() -> anyhow::Result<()> {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let cases: [(&[&str], &str); 3] = [
        (
            &["--listen", "0.0.0.0:0"],
            "error: refusing to serve on 0.0.0.0:0 without authentication: give a principals file (--auth) and TLS, or --insecure to serve anyway",
        ),
        (
            &["--listen", "0.0.0.0:0", "--insecure"],
            "INSECURE (--insecure): no authentication on the non-loopback address 0.0.0.0:0, plaintext",
        ),
        (
            &["--listen", "127.0.0.1:0"],
            "; loopback only, no authentication, plaintext",
        ),
    ];
    let mut failures = Vec::new();
    for (arguments, expected) in cases {
        let directory = tempfile::tempdir()?;
        let mut child = Reaped(
            Command::new(env!("CARGO_BIN_EXE_gridledger"))
                .arg("serve")
                .args(arguments)
                .arg("--data")
                .arg(directory.path().join("data"))
                .env("GRIDLEDGER_LOG", "error")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()?,
        );
        let stdout = child.0.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        // The first line: "gridledger listening on …; <policy>", or nothing if it refused.
        let first_line = BufReader::new(stdout).lines().next().transpose()?;
        let said = match first_line {
            Some(line) => {
                Command::new("kill")
                    .args(["-TERM", &child.0.id().to_string()])
                    .status()?;
                line
            }
            None => {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.0.stderr.take() {
                    std::io::Read::read_to_string(&mut pipe, &mut stderr)?;
                }
                stderr
            }
        };
        let status = child.0.wait()?;
        if !said.contains(expected) {
            failures.push(format!(
                "serve {arguments:?} ({status}) said {said:?}, not {expected:?}"
            ));
        }
    }
    anyhow::ensure!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}
