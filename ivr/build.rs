//! Compiles the default prompts and menu into the IVR, so `hotline serve`
//! runs from any directory: writes `embedded.rs` into OUT_DIR with one
//! `include_bytes!` per prompt WAV in `prompts/<language>/`.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let prompts = root.join("prompts");
    println!("cargo:rerun-if-changed={}", prompts.display());
    let mut table = String::from("/// (language, name, WAV bytes) of every embedded prompt.\n");
    table.push_str("pub static PROMPTS: &[(&str, &str, &[u8])] = &[\n");
    for language in ["zh", "en"] {
        let folder = prompts.join(language);
        println!("cargo:rerun-if-changed={}", folder.display());
        let mut names: Vec<String> = match std::fs::read_dir(&folder) {
            Ok(entries) => entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(".wav"))
                .collect(),
            Err(e) => panic!("cannot read the prompt folder {}: {e}", folder.display()),
        };
        names.sort();
        for file in names {
            let name = file.trim_end_matches(".wav");
            let path = folder.join(&file);
            let _ = writeln!(
                table,
                "    ({language:?}, {name:?}, include_bytes!({:?})),",
                path.display().to_string()
            );
        }
    }
    table.push_str("];\n");
    let tsv = prompts.join("prompts.tsv");
    println!("cargo:rerun-if-changed={}", tsv.display());
    let _ = writeln!(
        table,
        "/// The text of every prompt (`prompts/prompts.tsv`).\npub static PROMPT_TEXTS: &str = include_str!({:?});",
        tsv.display().to_string()
    );
    let out = std::env::var("OUT_DIR").map(std::path::PathBuf::from);
    match out {
        Ok(dir) => {
            if let Err(e) = std::fs::write(dir.join("embedded.rs"), table) {
                panic!("cannot write embedded.rs: {e}");
            }
        }
        Err(e) => panic!("OUT_DIR is not set: {e}"),
    }
}
