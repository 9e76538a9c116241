//! `hotline supervisor report|sample`: clients of the report API.

use std::io::Write;

use hotline_proto::v1 as pb;
use hotline_proto::v1::report_service_client::ReportServiceClient;
use serde_json::json;

use crate::cli::{ReportFormat, SupervisorCommand};
use crate::tickets::{self, status};

pub async fn run(command: SupervisorCommand) -> anyhow::Result<()> {
    match command {
        SupervisorCommand::Report {
            client,
            from,
            to,
            center,
            format,
            language,
            output,
        } => {
            let mut api = ReportServiceClient::new(tickets::channel(&client).await?);
            let document = api
                .report(pb::ReportRequest {
                    from,
                    to,
                    center,
                    format: match format {
                        ReportFormat::Csv => "csv",
                        ReportFormat::Html => "html",
                    }
                    .to_owned(),
                    language: Some(language),
                })
                .await
                .map_err(status)?
                .into_inner();
            match output {
                Some(path) => {
                    write_private(&path, &document.content)
                        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
                    eprintln!("{}: {} bytes", path.display(), document.content.len());
                }
                None => std::io::stdout().write_all(&document.content)?,
            }
        }
        SupervisorCommand::Sample {
            client,
            from,
            to,
            center,
            per_lawyer,
            seed,
        } => {
            let mut api = ReportServiceClient::new(tickets::channel(&client).await?);
            let sample = api
                .quality_sample(pb::QualitySampleRequest {
                    from,
                    to,
                    center,
                    per_lawyer,
                    seed,
                })
                .await
                .map_err(status)?
                .into_inner();
            if client.json {
                for t in &sample.tickets {
                    println!("{}", json!({"lawyer": t.lawyer, "number": t.number}));
                }
            } else {
                for t in &sample.tickets {
                    println!("{:<16}  {}", t.lawyer, t.number);
                }
                match sample.tickets.len() {
                    1 => eprintln!("1 ticket"),
                    n => eprintln!("{n} tickets"),
                }
            }
        }
    }
    Ok(())
}

/// Reports hold personal figures: the file is the user's alone.
fn write_private(path: &std::path::Path, content: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(content)?;
    file.sync_all()
}
