//! Clients that hold connections without using them, stall their streams, or leave a follow
//! stream open at shutdown cannot stop the server: real sockets against a real server.

mod support;

use std::time::Duration;

use gridledger_api::proto;
use gridledger_server::TransportLimits;
use support::{TestServer, health_of, loopback_config, report_request, spawn_serve};
use tokio::io::AsyncReadExt;
use tonic::Code;
use tonic::transport::Channel;

/// A server in this process with `limits`.
async fn server_with(limits: TransportLimits) -> anyhow::Result<(tempfile::TempDir, gridledger_server::RunningServer)> {
    let directory = tempfile::tempdir()?;
    let server = gridledger_server::start_with_limits(
        loopback_config(directory.path().join("data"))?,
        limits,
        std::future::pending(),
    )
    .await?;
    Ok((directory, server))
}

async fn channel_to(address: &str) -> anyhow::Result<Channel> {
    Ok(Channel::from_shared(format!("http://{address}"))?.connect().await?)
}

async fn report(channel: &Channel, title: &str) -> Result<proto::CommandAck, tonic::Status> {
    proto::issue_service_client::IssueServiceClient::new(channel.clone())
        .report_issue(report_request(title))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn a_connection_that_never_speaks_is_closed_after_the_handshake_timeout() -> anyhow::Result<()> {
    let (_directory, server) = server_with(TransportLimits {
        handshake_timeout: Duration::from_millis(200),
        ..TransportLimits::default()
    })
    .await?;
    let mut silent = tokio::net::TcpStream::connect(server.local_addr).await?;
    // The server speaks first (its HTTP/2 settings), then closes the socket: reading ends
    // with EOF or a reset instead of hanging.
    let mut received = Vec::new();
    let ended = silent.read_to_end(&mut received).await;
    assert!(
        ended.is_ok()
            || ended
                .as_ref()
                .is_err_and(|error| error.kind() == std::io::ErrorKind::ConnectionReset),
        "{ended:?}"
    );
    server.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn silent_sockets_holding_every_slot_are_closed_and_a_real_client_gets_through() -> anyhow::Result<()> {
    let (_directory, server) = server_with(TransportLimits {
        max_connections: 2,
        handshake_timeout: Duration::from_millis(300),
        ..TransportLimits::default()
    })
    .await?;
    let _silent: Vec<tokio::net::TcpStream> = vec![
        tokio::net::TcpStream::connect(server.local_addr).await?,
        tokio::net::TcpStream::connect(server.local_addr).await?,
    ];
    // Both slots are held; the client waits in the backlog until the handshake deadline
    // frees them, then is served.
    let channel = channel_to(&server.local_addr.to_string()).await?;
    let ack = report(&channel, "reported past two silent sockets").await?;
    assert_eq!(ack.revision, 0);
    server.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_stalled_follow_stream_does_not_stop_writes() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    // A follower that never reads what it is sent.
    let _stalled = server
        .audit()
        .read_all(proto::ReadAllRequest {
            from_position: 0,
            limit: 0,
            follow: true,
        })
        .await?;
    for round in 0..300 {
        report(&server.channel, &format!("written past a stalled reader {round}")).await?;
    }
    assert_eq!(server.head_position().await?, 300);
    Ok(())
}

/// With `ulimit -n 128` and 300 sockets held open by a client, the server keeps its
/// connections below the limit: writes on an existing connection go on, health stays
/// SERVING, and after the sockets close every acknowledged report is there once and the
/// chain verifies.
#[tokio::test]
async fn idle_sockets_cannot_starve_the_log_of_descriptors() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let (mut child, address) = spawn_serve(&directory.path().join("data"), &[], Some(128))?;
    let channel = channel_to(&address).await?;
    report(&channel, "before the flood").await?;
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(std::net::TcpStream::connect(&address)?);
    }
    let mut acknowledged = 1;
    for round in 0..20 {
        match report(&channel, &format!("during the flood {round}")).await {
            Ok(_) => acknowledged += 1,
            Err(status) => assert_eq!(status.code(), Code::Unavailable, "{status:?}"),
        }
    }
    assert_eq!(
        health_of(&channel, "gridledger.v1.IssueService").await?,
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
    drop(idle);
    report(&channel, "after the flood").await?;
    acknowledged += 1;
    let verified = proto::audit_service_client::AuditServiceClient::new(channel.clone())
        .verify_log(proto::VerifyLogRequest::default())
        .await?
        .into_inner();
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.head_position, acknowledged, "every acknowledged report once");
    drop(channel);
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    assert!(child.wait()?.success());
    Ok(())
}

#[tokio::test]
async fn sigterm_ends_follow_streams_with_unavailable_and_the_server_exits() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let (mut child, address) = spawn_serve(&directory.path().join("data"), &[], None)?;
    let channel = channel_to(&address).await?;
    report(&channel, "followed").await?;
    let mut follow = proto::audit_service_client::AuditServiceClient::new(channel.clone())
        .read_all(proto::ReadAllRequest {
            from_position: 0,
            limit: 0,
            follow: true,
        })
        .await?
        .into_inner();
    let first = follow.message().await?;
    assert_eq!(first.map(|event| event.position), Some(1));
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    let ended = follow.message().await;
    match ended {
        Err(status) => {
            assert_eq!(status.code(), Code::Unavailable, "{status:?}");
            assert!(status.message().contains("shutting down"), "{status:?}");
        }
        Ok(other) => anyhow::bail!("the follow stream should end with UNAVAILABLE, got {other:?}"),
    }
    assert!(child.wait()?.success());
    Ok(())
}
