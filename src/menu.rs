//! `hotline menu check|graph|reload`: the menu checker a center runs before
//! deploying a changed flow, its drawing, and the reload of a running IVR;
//! `hotline prompts export`, the embedded prompts written out to replace.

use hotline_ivr::menu::{graph, MenuSource, PromptCheck};
use hotline_ivr::prompts::{export_embedded, Prompts};
use hotline_proto::v1 as pb;
use hotline_proto::v1::ivr_admin_client::IvrAdminClient;

use crate::cli::{MenuCommand, PromptsCommand};
use crate::UsageError;

pub async fn run(command: MenuCommand) -> anyhow::Result<()> {
    match command {
        MenuCommand::Check { file, prompts_dir } => {
            let file = MenuSource::from_option(file.as_deref());
            let embedded;
            let check = match &prompts_dir {
                Some(dir) => PromptCheck::Folder(dir),
                None => {
                    embedded = Prompts::embedded()?;
                    PromptCheck::Loaded(&embedded)
                }
            };
            match file.load(check) {
                Ok(menu) => {
                    // Every file must also be audio the IVR can play, as
                    // `serve` will insist.
                    if let Some(dir) = &prompts_dir {
                        Prompts::load_folder(dir).map_err(|e| {
                            UsageError(format!("{e}; the IVR would refuse these prompts"))
                        })?;
                    }
                    println!(
                        "{}: ok ({} nodes, languages {})",
                        file,
                        menu.nodes.len(),
                        menu.languages
                            .iter()
                            .map(|l| l.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
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
                        file,
                        errors.0.len()
                    ))
                    .into())
                }
            }
        }
        MenuCommand::Graph { file } => {
            let file = MenuSource::from_option(file.as_deref());
            let menu = file.load(PromptCheck::Skip).map_err(|errors| {
                for e in &errors.0 {
                    eprintln!("{e}");
                }
                UsageError(format!("{file} is not a valid menu"))
            })?;
            print!("{}", graph::dot(&menu));
            Ok(())
        }
        MenuCommand::Reload { admin, token } => {
            let token = if token.is_none() && !crate::tickets::is_loopback(&admin) {
                None
            } else {
                crate::tickets::token_or_default(token.as_deref())?
            };
            let bearer = hotline_proto::Bearer::new(token.as_deref())
                .map_err(|e| UsageError(e.to_string()))?;
            let channel = tonic::transport::Channel::from_shared(admin.clone())
                .map_err(|e| UsageError(format!("invalid --admin URL `{admin}`: {e}")))?
                .connect()
                .await
                .map_err(|e| anyhow::anyhow!("cannot reach the IVR admin API at {admin}: {e}"))?;
            let mut client = IvrAdminClient::with_interceptor(channel, bearer);
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

/// `hotline prompts export DIR`: the embedded prompts, for a center to replace.
pub fn prompts(command: PromptsCommand) -> anyhow::Result<()> {
    match command {
        PromptsCommand::Export { dir, force } => {
            if !force {
                let existing = existing_prompts(&dir);
                if let Some(first) = existing.first() {
                    return Err(UsageError(format!(
                        "{} already holds {} prompt file(s) (e.g. {}); they may be a center's own recordings. \
                         Export to an empty folder, or pass --force to replace them",
                        dir.display(),
                        existing.len(),
                        first.display()
                    ))
                    .into());
                }
            }
            let written = export_embedded(&dir)?;
            println!(
                "{}: {written} prompts and prompts.tsv written; start with --prompts-dir {}",
                dir.display(),
                dir.display()
            );
            Ok(())
        }
    }
}

/// The files an export would replace that are already in `dir`.
fn existing_prompts(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<std::path::PathBuf> = hotline_ivr::prompts::LANGUAGES
        .iter()
        .filter_map(|lang| std::fs::read_dir(dir.join(lang)).ok())
        .flat_map(|entries| entries.flatten().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("wav"))
        .collect();
    if dir.join("prompts.tsv").exists() {
        found.push(dir.join("prompts.tsv"));
    }
    found.sort();
    found
}
