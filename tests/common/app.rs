//! The system in the test's own process: [`spawn_app`] builds the real
//! [`hotline::App`] on loopback port 0 with a fresh data directory, so a
//! test can reach every part and stop it, without a child process.

use std::net::SocketAddr;

use hotline::{App, AppError, Config, Role};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestApp {
    pub grpc: SocketAddr,
    pub sip: SocketAddr,
    pub admin: SocketAddr,
    pub metrics: SocketAddr,
    /// The data directory (SQLite file, outbox, recordings); removed on drop.
    pub data: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), AppError>>>,
}

/// Every default, except loopback port 0 everywhere and a fresh data directory.
pub async fn spawn_app() -> TestApp {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::defaults().unwrap();
    let any = "127.0.0.1:0".parse::<SocketAddr>().unwrap();
    config.grpc_listen = any;
    config.sip_listen = any;
    config.admin_listen = any;
    config.metrics_listen = any;
    config.web_listen = any;
    config.data_dir = data.path().to_owned();
    config.drain_timeout_secs = 1;
    let app = App::build(config, Role::All).await.unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let grpc = app.grpc_addr().unwrap();
    let sip = app.sip_addr().unwrap();
    let admin = app.admin_addr().unwrap();
    let metrics = app.metrics_addr().unwrap();
    let task = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    TestApp {
        grpc,
        sip,
        admin,
        metrics,
        data,
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestApp {
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc)
    }

    /// A channel to ticketing carrying the admin token the first start wrote.
    pub async fn admin_channel(&self) -> hotline_proto::AuthedChannel {
        let token = std::fs::read_to_string(self.data.path().join("admin.token")).unwrap();
        self.channel(token.trim()).await
    }

    /// A channel to ticketing carrying `token`.
    pub async fn channel(&self, token: &str) -> hotline_proto::AuthedChannel {
        let channel = tonic::transport::Channel::from_shared(self.grpc_url())
            .unwrap()
            .connect()
            .await
            .unwrap();
        tonic::service::interceptor::InterceptedService::new(
            channel,
            hotline_proto::Bearer::new(Some(token)).unwrap(),
        )
    }

    /// Asks the app to stop and waits until every part has.
    pub async fn stop(&mut self) -> Result<(), AppError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap(),
            None => Ok(()),
        }
    }
}
