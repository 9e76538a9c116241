//! The flow as Graphviz DOT (`hotline menu graph FILE | dot -Tsvg`), so a
//! center can see what it is about to deploy.

use std::fmt::Write;

use super::model::{Menu, NodeKind};

pub fn dot(menu: &Menu) -> String {
    let mut out =
        String::from("digraph menu {\n  rankdir=LR;\n  node [fontname=\"sans-serif\"];\n");
    let _ = writeln!(out, "  \"{}\" [penwidth=2];", escape(&menu.start));
    for node in menu.nodes.values() {
        let shape = match node.kind {
            NodeKind::Menu { .. } | NodeKind::Confirm { .. } => "box",
            NodeKind::Collect { .. } | NodeKind::Record { .. } => "parallelogram",
            NodeKind::Branch { .. } | NodeKind::Hours { .. } => "diamond",
            NodeKind::Hangup { .. } => "doublecircle",
            _ => "ellipse",
        };
        let _ = writeln!(
            out,
            "  \"{}\" [shape={shape}, label=\"{}\\n({})\"];",
            escape(&node.id),
            escape(&node.id),
            node.kind.type_name()
        );
        for (label, next) in node.kind.edges() {
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\" [label=\"{}\"];",
                escape(&node.id),
                escape(&next),
                escape(&label)
            );
        }
    }
    out.push_str("}\n");
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
