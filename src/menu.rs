//! `hotline menu check|graph|reload`: the menu checker a center runs before
//! deploying a changed flow, its drawing, and the reload of a running IVR.

use hotline_ivr::menu::{graph, load_file, PromptCheck};
use hotline_proto::v1 as pb;
use hotline_proto::v1::ivr_admin_client::IvrAdminClient;

use crate::cli::MenuCommand;
use crate::UsageError;

pub async fn run(command: MenuCommand) -> anyhow::Result<()> {
    match command {
        MenuCommand::Check { file, prompts_dir } => {
            match load_file(&file, PromptCheck::Folder(&prompts_dir)) {
                Ok(menu) => {
                    println!(
                        "{}: ok ({} nodes, languages {})",
                        file.display(),
                        menu.nodes.len(),
                        menu.languages.join(", ")
                    );
                    Ok(())
                }
                Err(errors) => {
                    // Every problem on its own line, then the one-line summary.
                    for e in &errors.0 {
                        eprintln!("{e}");
                    }
                    Err(UsageError(format!(
                        "{} has {} problem(s); the IVR would refuse it",
                        file.display(),
                        errors.0.len()
                    ))
                    .into())
                }
            }
        }
        MenuCommand::Graph { file } => {
            let menu = load_file(&file, PromptCheck::Skip).map_err(|errors| {
                for e in &errors.0 {
                    eprintln!("{e}");
                }
                UsageError(format!("{} is not a valid menu", file.display()))
            })?;
            print!("{}", graph::dot(&menu));
            Ok(())
        }
        MenuCommand::Reload { admin } => {
            let mut client = IvrAdminClient::connect(admin.clone())
                .await
                .map_err(|e| anyhow::anyhow!("cannot reach the IVR admin API at {admin}: {e}"))?;
            match client.reload_menu(pb::ReloadMenuRequest {}).await {
                Ok(r) => {
                    let r = r.into_inner();
                    println!("{}: reloaded ({} nodes)", r.file, r.nodes);
                    Ok(())
                }
                Err(s) if s.code() == tonic::Code::FailedPrecondition => {
                    for line in s.message().lines() {
                        eprintln!("{line}");
                    }
                    Err(
                        UsageError("the new menu was refused; the IVR keeps the old one".into())
                            .into(),
                    )
                }
                Err(s) => Err(anyhow::anyhow!("reload failed: {}", s.message())),
            }
        }
    }
}
