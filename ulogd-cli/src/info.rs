//! `--list-plugins` and `-i PLUGIN`: what every built-in plugin takes and makes.

use std::path::Path;

use ulogd_core::{KeyDef, PluginSpec, Registry};

/// One line per plugin: name, kind, summary, aliases.
pub fn list_plugins(reg: &Registry) {
    for p in reg.plugins() {
        let alias = if p.aliases.is_empty() {
            String::new()
        } else {
            format!(" (alias {})", p.aliases.join(", "))
        };
        println!("{:<10} {:<7} {}{}", p.name, p.kind.name(), p.summary, alias);
    }
}

pub fn plugin_name(arg: &str) -> String {
    // Accept ulogd2's `-i /usr/lib/.../ulogd_output_JSON.so` form too.
    let base = Path::new(arg)
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or(arg);
    let base = base.strip_suffix(".so").unwrap_or(base);
    if let Some(rest) = base.strip_prefix("ulogd_") {
        if let Some((_, name)) = rest.split_once('_') {
            return name.to_string();
        }
    }
    base.to_string()
}

fn print_keys(title: &str, keys: &[KeyDef]) {
    println!("{title}:");
    for k in keys {
        let mut flags = Vec::new();
        if k.is_optional() {
            flags.push("optional");
        }
        if k.is_inactive() {
            flags.push("inactive");
        }
        let mut extra = String::new();
        if let Some(i) = k.ipfix {
            extra.push_str(&format!(" ipfix={}:{}", i.enterprise, i.id));
        }
        if let Some(c) = k.cim {
            extra.push_str(&format!(" json={c}"));
        }
        println!(
            "\t{:<24} {:<12}{}{}",
            k.name,
            k.ty.name(),
            if flags.is_empty() {
                String::new()
            } else {
                format!(" ({})", flags.join(", "))
            },
            extra
        );
    }
}

pub fn print_info(spec: &PluginSpec) {
    println!("Name: {}", spec.name);
    if !spec.aliases.is_empty() {
        println!("Also known as: {}", spec.aliases.join(", "));
    }
    println!("Kind: {}", spec.kind.name());
    println!("Summary: {}", spec.summary);
    if spec.options.is_empty() {
        println!("Options: none");
    } else {
        println!("Options:");
        for o in &spec.options {
            let kind = match o.kind {
                ulogd_core::OptKind::Int => "integer",
                ulogd_core::OptKind::Str => "string",
                ulogd_core::OptKind::Bool => "boolean",
            };
            let def = if o.required {
                "required".to_string()
            } else {
                format!("default \"{}\"", o.default)
            };
            println!("\t{:<30} {:<8} {:<22} {}", o.name, kind, def, o.help);
        }
    }
    if spec.wildcard {
        println!("Input keys: every key produced upstream in the stack");
    } else if spec.kind != ulogd_core::Kind::Source {
        print_keys("Input keys", &spec.inputs);
    }
    if spec.kind != ulogd_core::Kind::Sink {
        print_keys("Output keys", &spec.outputs);
    }
}
