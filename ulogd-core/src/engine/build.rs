//! Building stacks: instances (one per id), key binding and the slot layout.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex};

use crate::config::ConfigFile;
use crate::event::{BindState, Binding, UNBOUND};
use crate::global::StackSpec;
use crate::key::KeyDef;
use crate::options::{ConfigError, Options};
use crate::plugin::{BuildContext, Built, Inputs, Kind, PluginError, Source, StackKeys, Stage};
use crate::registry::Registry;

use super::dispatch::{Counters, ElemRt, SourceShared, StackRt};

/// A stage instance, shared by every stack naming its id.
pub(crate) struct StageInst {
    pub id: String,
    pub plugin: &'static str,
    pub stage: Arc<dyn Stage>,
    pub inputs: Inputs,
    pub outputs: Vec<KeyDef>,
    pub counters: Arc<Counters>,
}

/// A source instance before it runs.
pub(crate) struct SourceInst {
    pub id: String,
    pub plugin: &'static str,
    pub source: Box<dyn Source>,
    pub outputs: Vec<KeyDef>,
    pub stacks: Vec<usize>,
    /// Source stacking (`hop.rs`): this source is the source half of a hop.
    pub hop: bool,
}

pub(crate) struct Topology {
    pub sources: Vec<(SourceInst, Arc<SourceShared>)>,
    pub stages: Vec<StageInst>,
    /// Source stacking: the hops, upstream first (`hop.rs`).
    pub hops: Vec<super::hop::HopLink>,
}

enum Inst {
    Source(usize),
    Stage(usize),
    /// Source stacking: (source index, stage index) of one instance.
    Hop(usize, usize),
}

fn stack_label(s: &StackSpec) -> String {
    s.elems
        .iter()
        .map(|e| format!("{}:{}", e.id, e.plugin))
        .collect::<Vec<_>>()
        .join(",")
}

/// The error for a stack instance whose plugin has options but whose `[id]` section is
/// missing, with a "did you mean" drawn from the sections no stack uses.
fn missing_section_message(
    cfg: &ConfigFile,
    stacks: &[StackSpec],
    label: &str,
    id: &str,
    plugin: &str,
) -> String {
    let used: Vec<&str> = stacks
        .iter()
        .flat_map(|s| s.elems.iter().map(|e| e.id.as_str()))
        .collect();
    let unused: Vec<&str> = cfg
        .unused_sections(&used)
        .into_iter()
        .map(|s| s.name.as_str())
        .collect();
    let hint = match crate::options::suggest(id, &unused) {
        Some(s) => format!(" (did you mean [{s}]?)"),
        None => String::new(),
    };
    format!(
        "stack '{label}': instance '{id}' ({plugin}) has no [{id}] section{hint}; \
         add one, even if empty, to run {plugin} on its defaults"
    )
}

/// The plugin name shown for instances given as objects (`EngineBuilder::source`,
/// `EngineBuilder::stage`) rather than built from a registered plugin.
pub(crate) const OBJECT_PLUGIN: &str = "object";

/// Builds every instance and stack. Reports every problem found, not just the first.
/// `objects` are instances built by the caller, by id; the rest come from `registry`.
pub(crate) fn build(
    registry: &Registry,
    cfg: &ConfigFile,
    stacks: &[StackSpec],
    keyspool: usize,
    mut objects: HashMap<String, Built>,
) -> Result<Topology, Vec<ConfigError>> {
    let file: &Path = &cfg.origin;
    let mut errors: Vec<ConfigError> = Vec::new();
    let mut sources: Vec<SourceInst> = Vec::new();
    let mut stages: Vec<StageInst> = Vec::new();
    let mut by_id: HashMap<String, (Inst, String)> = HashMap::new();
    let err = |line: usize, key: Option<&str>, message: String| ConfigError {
        file: file.to_path_buf(),
        line,
        key: key.map(str::to_string),
        message,
    };

    for (first, again) in cfg.duplicate_sections() {
        errors.push(err(
            again.line,
            None,
            format!(
                "section [{}] is defined twice (first at line {}); merge the two or rename one",
                again.name, first.line
            ),
        ));
    }

    let mut missing_reported: Vec<String> = Vec::new();
    // Values of exclusive options given so far: (option, value, instance, line).
    let mut claimed: Vec<(&'static str, String, String, usize)> = Vec::new();
    // Which instance each stack element is, or None if it failed.
    let mut resolved: Vec<Vec<Option<usize>>> = Vec::new();
    for (si, st) in stacks.iter().enumerate() {
        let label = stack_label(st);
        let mut row = Vec::new();
        for (pos, el) in st.elems.iter().enumerate() {
            let want = if pos == 0 {
                Kind::Source
            } else if pos + 1 == st.elems.len() {
                Kind::Sink
            } else {
                Kind::Filter
            };
            if let Some((inst, plugin)) = by_id.get(&el.id) {
                if *plugin != el.plugin {
                    errors.push(err(
                        st.line,
                        Some("stack"),
                        format!(
                            "stack '{label}': instance id '{}' is already a {plugin}, cannot also be a {}",
                            el.id, el.plugin
                        ),
                    ));
                    row.push(None);
                    continue;
                }
                match inst {
                    Inst::Source(i) if want == Kind::Source => {
                        sources[*i].stacks.push(si);
                        row.push(Some(*i));
                    }
                    Inst::Stage(i) if want != Kind::Source => row.push(Some(*i)),
                    // Source stacking: a hop heads stacks as a source, ends them as a sink.
                    Inst::Hop(src, _) if want == Kind::Source => {
                        sources[*src].stacks.push(si);
                        row.push(Some(*src));
                    }
                    Inst::Hop(_, stage) if want == Kind::Sink => row.push(Some(*stage)),
                    _ => {
                        errors.push(err(
                            st.line,
                            Some("stack"),
                            format!(
                                "stack '{label}': '{}' cannot stand at position {}",
                                el.id,
                                pos + 1
                            ),
                        ));
                        row.push(None);
                    }
                }
                continue;
            }
            let (built, plugin_name) = if let Some(obj) = objects.remove(&el.id) {
                let is_source = matches!(obj, Built::Source { .. });
                if is_source != (want == Kind::Source) {
                    errors.push(err(
                        st.line,
                        Some("stack"),
                        format!(
                            "stack '{label}': '{}' is a {} object but stands at position {}; a stack is source, filters..., sink",
                            el.id,
                            if is_source { "source" } else { "stage" },
                            pos + 1
                        ),
                    ));
                    row.push(None);
                    continue;
                }
                (obj, OBJECT_PLUGIN)
            } else {
                let Some(spec) = registry.get_for(&el.plugin, want) else {
                    let names = registry.names();
                    let hint = match registry
                        .get_ignore_case(&el.plugin)
                        .map(|s| s.name)
                        .or_else(|| crate::options::suggest(&el.plugin, &names))
                    {
                        Some(s) => format!(" (did you mean {s}?)"),
                        None => String::new(),
                    };
                    errors.push(err(
                        st.line,
                        Some("stack"),
                        format!(
                            "stack '{label}': unknown plugin '{}'{hint}; `ulogd --list-plugins` shows them all",
                            el.plugin
                        ),
                    ));
                    row.push(None);
                    continue;
                };
                let kind_ok = match want {
                    Kind::Source => spec.kind == Kind::Source,
                    Kind::Filter => spec.kind == Kind::Filter,
                    Kind::Sink => spec.kind == Kind::Sink,
                };
                if !kind_ok {
                    let where_ = match want {
                        Kind::Source => "first (a source)",
                        Kind::Filter => "in the middle (a filter)",
                        Kind::Sink => "last (a sink)",
                    };
                    errors.push(err(
                        st.line,
                        Some("stack"),
                        format!(
                            "stack '{label}': {} is a {}, but stands {where_}; a stack is source, filters..., sink",
                            el.plugin,
                            spec.kind.name()
                        ),
                    ));
                    row.push(None);
                    continue;
                }
                let section = cfg.section(&el.id);
                let options =
                    match Options::from_section(file, spec.name, &el.id, &spec.options, section) {
                        Ok(o) => o,
                        Err(mut e) => {
                            errors.append(&mut e);
                            row.push(None);
                            continue;
                        }
                    };
                for d in spec.options.iter().filter(|d| d.exclusive) {
                    let Some(line) = options.line(d.name) else {
                        continue;
                    };
                    let value = options.str(d.name).trim_end_matches('/').to_string();
                    match claimed.iter().find(|c| c.0 == d.name && c.1 == value) {
                        Some(c) if c.2 != el.id => errors.push(err(
                            line,
                            Some(d.name),
                            format!(
                                "[{}] {} \"{}\" is already the {} of [{}] (line {}); each instance needs one of its own",
                                el.id,
                                d.name,
                                options.str(d.name),
                                d.name,
                                c.2,
                                c.3
                            ),
                        )),
                        Some(_) => {}
                        None => claimed.push((d.name, value, el.id.clone(), line)),
                    }
                }
                let ctx = BuildContext {
                    id: &el.id,
                    options: &options,
                };
                let line = section.map(|s| s.line).unwrap_or(st.line);
                match (spec.build)(&ctx) {
                    // A configuration error already names file, line and key.
                    Err(crate::plugin::PluginError::Config(e)) => {
                        errors.push(e);
                        row.push(None);
                        continue;
                    }
                    Err(e) => {
                        errors.push(err(
                            line,
                            None,
                            format!("[{}] ({}): {}", el.id, spec.name, e),
                        ));
                        row.push(None);
                        continue;
                    }
                    // ulogd2 refuses an instance whose plugin has options but whose
                    // `[id]` section is missing ("error during configure of plugin");
                    // running on defaults would write to a path nobody asked for.
                    // Checked after building (which opens nothing) so that a plugin
                    // refused outright (MYSQL: "not supported") says that instead.
                    Ok(_) if section.is_none() && !spec.options.is_empty() => {
                        // Once per id, at its first stack, not again for every stack
                        // that names it.
                        if !missing_reported.contains(&el.id) {
                            missing_reported.push(el.id.clone());
                            errors.push(err(
                                st.line,
                                Some("stack"),
                                missing_section_message(cfg, stacks, &label, &el.id, spec.name),
                            ));
                        }
                        row.push(None);
                        continue;
                    }
                    Ok(b) => (b, spec.name),
                }
            };
            match built {
                Built::Source { source, outputs } => {
                    let idx = sources.len();
                    sources.push(SourceInst {
                        id: el.id.clone(),
                        plugin: plugin_name,
                        source,
                        outputs,
                        stacks: vec![si],
                        hop: false,
                    });
                    by_id.insert(el.id.clone(), (Inst::Source(idx), el.plugin.clone()));
                    row.push(Some(idx));
                }
                // Source stacking (hop.rs): both halves under one id.
                Built::Hop {
                    stage,
                    inputs,
                    source,
                    outputs,
                } => {
                    let (src, stg) = (sources.len(), stages.len());
                    sources.push(SourceInst {
                        id: el.id.clone(),
                        plugin: plugin_name,
                        source,
                        outputs,
                        stacks: if want == Kind::Source {
                            vec![si]
                        } else {
                            vec![]
                        },
                        hop: true,
                    });
                    stages.push(StageInst {
                        id: el.id.clone(),
                        plugin: plugin_name,
                        stage,
                        inputs,
                        outputs: Vec::new(),
                        counters: Arc::new(Counters::default()),
                    });
                    by_id.insert(el.id.clone(), (Inst::Hop(src, stg), el.plugin.clone()));
                    row.push(Some(if want == Kind::Source { src } else { stg }));
                }
                Built::Stage {
                    stage,
                    inputs,
                    outputs,
                } => {
                    let idx = stages.len();
                    stages.push(StageInst {
                        id: el.id.clone(),
                        plugin: plugin_name,
                        stage,
                        inputs,
                        outputs,
                        counters: Arc::new(Counters::default()),
                    });
                    by_id.insert(el.id.clone(), (Inst::Stage(idx), el.plugin.clone()));
                    row.push(Some(idx));
                }
            }
        }
        resolved.push(row);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // Source stacking: the graph of hops, upstream first; cycles are errors.
    let mut hops = super::hop::links(&by_id_hops(&by_id), stacks, &sources, &stages);
    if let Err(e) = super::hop::plan(&mut hops, &super::hop::ends(stacks)) {
        return Err(vec![err(
            stacks.first().map_or(0, |s| s.line),
            Some("stack"),
            e,
        )]);
    }

    // Lay out slots per source and bind inputs.
    let mut out = Vec::new();
    for src in sources {
        let mut defs: Vec<KeyDef> = src.outputs.clone();
        // Inputs mirror the outputs, so a source's completion (`Completion::done`)
        // reads the source's own keys by output position (`ev.u32(i)`).
        let src_binding = Binding {
            inputs: (0..defs.len() as u32).collect(),
            out_base: 0,
            out_len: defs.len() as u32,
            wildcard: Box::new([]),
            state: BindState::none(),
        };
        let mut stack_rts = Vec::new();
        for &si in &src.stacks {
            let st = &stacks[si];
            let label = stack_label(st);
            // Output slot ranges of the elements so far: (base, len).
            let mut ranges: Vec<(u32, u32)> = vec![(0, src.outputs.len() as u32)];
            let mut elems = Vec::new();
            for inst in resolved[si].iter().skip(1) {
                let stage = &stages[inst.expect("errors returned above")];
                let base = defs.len() as u32;
                let mut inputs_v = Vec::new();
                let mut wildcard = Vec::new();
                match &stage.inputs {
                    Inputs::All => {
                        for &(b, l) in &ranges {
                            wildcard.extend(b..b + l);
                        }
                        let upstream: Vec<&KeyDef> =
                            wildcard.iter().map(|&s| &defs[s as usize]).collect();
                        if let Err((key, why)) = stage.stage.check_wildcard(&upstream) {
                            errors.push(err(
                                st.line,
                                Some(&key),
                                format!("stack '{label}': {} ({}): {why}", stage.id, stage.plugin),
                            ));
                        }
                    }
                    Inputs::Keys(keys) => {
                        for k in keys {
                            if k.is_inactive() {
                                inputs_v.push(UNBOUND);
                                continue;
                            }
                            // Nearest upstream producer first; the source last.
                            let found = ranges.iter().rev().find_map(|&(b, l)| {
                                (b..b + l).find(|&s| defs[s as usize].name == k.name)
                            });
                            match found {
                                Some(slot) => {
                                    let have = defs[slot as usize].ty;
                                    if !k.ty.accepts(have) {
                                        errors.push(err(
                                            st.line,
                                            Some(&k.name),
                                            format!(
                                                "stack '{label}': {} ({}) needs key '{}' as {}, but upstream produces it as {}",
                                                stage.id, stage.plugin, k.name, k.ty, have
                                            ),
                                        ));
                                    }
                                    inputs_v.push(slot);
                                }
                                None if k.is_optional() => inputs_v.push(UNBOUND),
                                None => {
                                    let upstream: Vec<&str> = ranges
                                        .iter()
                                        .flat_map(|&(b, l)| {
                                            (b..b + l).map(|s| &*defs[s as usize].name)
                                        })
                                        .collect();
                                    let close = crate::options::suggest(&k.name, &upstream)
                                        .map(|s| format!(" (did you mean '{s}'?)"))
                                        .unwrap_or_default();
                                    errors.push(err(
                                        st.line,
                                        Some(&k.name),
                                        format!(
                                            "stack '{label}': {} ({}) needs key '{}', which no plugin before it produces{}{}",
                                            stage.id,
                                            stage.plugin,
                                            k.name,
                                            close,
                                            producer_hint(registry, &k.name)
                                        ),
                                    ))
                                }
                            }
                        }
                    }
                }
                // The stage's own view of this stack, for its bind step.
                let state = {
                    let inputs: Vec<Option<&KeyDef>> = inputs_v
                        .iter()
                        .map(|&s| (s != UNBOUND).then(|| &defs[s as usize]))
                        .collect();
                    let wild: Vec<&KeyDef> = wildcard.iter().map(|&s| &defs[s as usize]).collect();
                    let keys = StackKeys {
                        stack: &label,
                        inputs: &inputs,
                        wildcard: &wild,
                        outputs: &stage.outputs,
                    };
                    match stage.stage.bind(&keys) {
                        Ok(s) => s,
                        Err(PluginError::Config(e)) => {
                            errors.push(e);
                            BindState::none()
                        }
                        Err(e) => {
                            errors.push(err(
                                st.line,
                                Some("stack"),
                                format!("stack '{label}': {} ({}): {e}", stage.id, stage.plugin),
                            ));
                            BindState::none()
                        }
                    }
                };
                defs.extend(stage.outputs.iter().cloned());
                let binding = Binding {
                    inputs: inputs_v.into_boxed_slice(),
                    out_base: base,
                    out_len: stage.outputs.len() as u32,
                    wildcard: wildcard.into_boxed_slice(),
                    state,
                };
                ranges.push((base, stage.outputs.len() as u32));
                elems.push(ElemRt {
                    id: stage.id.clone(),
                    stage: stage.stage.clone(),
                    counters: stage.counters.clone(),
                    binding,
                });
            }
            stack_rts.push(StackRt {
                label,
                elems,
                turn: Mutex::new(0),
                cv: Condvar::new(),
                waiters: Default::default(),
            });
        }
        let nslots = defs.len();
        let shared = Arc::new(SourceShared {
            id: src.id.clone(),
            defs,
            src_binding,
            stacks: stack_rts,
            pool: Mutex::new(Vec::new()),
            pool_size: keyspool.max(1),
            nslots,
            blocked: std::sync::atomic::AtomicBool::new(false),
            pool_empty: AtomicU64::new(0),
            emitted: AtomicU64::new(0),
            completion: std::sync::OnceLock::new(),
            remote_timers: Mutex::new(Vec::new()),
        });
        out.push((src, shared));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Topology {
        sources: out,
        stages,
        hops,
    })
}

/// Source stacking: (id, source index, stage index) of every hop.
fn by_id_hops(by_id: &HashMap<String, (Inst, String)>) -> Vec<(String, usize, usize)> {
    by_id
        .iter()
        .filter_map(|(id, (inst, _))| match inst {
            Inst::Hop(a, b) => Some((id.clone(), *a, *b)),
            _ => None,
        })
        .collect()
}

fn producer_hint(registry: &Registry, key: &str) -> String {
    let producers: Vec<&str> = registry
        .plugins()
        .into_iter()
        .filter(|p| p.outputs.iter().any(|k| k.name == key))
        .map(|p| p.name)
        .collect();
    if producers.is_empty() {
        String::new()
    } else {
        format!(
            " (it comes from {}; add one before it)",
            producers.join(" or ")
        )
    }
}
