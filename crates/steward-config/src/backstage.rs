//! `steward import backstage`: Backstage `catalog-info.yaml` documents (`Component`,
//! `Group`, `User`) turned into `steward/v1` Services, Teams and Users, with a note for
//! everything that could not be carried over and why.
//!
//! Backstage's entity format (backstage.io/v1alpha1): `metadata.name`, `title`,
//! `description`, `tags`, `links: [{url, title}]`, `annotations`; a Component's
//! `spec.type`, `lifecycle`, `owner` and `system` (entity references `[kind:][namespace/]name`),
//! `dependsOn`, `providesApis`, `consumesApis`, `subcomponentOf`; a Group's
//! `spec.profile.displayName`, `members`, `parent`, `children`; a User's
//! `spec.profile.{displayName,email}` and `memberOf`.

use crate::diag::{Diagnostic, Diagnostics, Loc};
use crate::yaml::{parse_documents, Mark, Node, Value};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

/// What an import made.
#[derive(Debug, Default)]
pub struct Imported {
    /// The `steward/v1` documents, as YAML.
    pub yaml: String,
    /// `file:line:col: what was not carried over, and what to do`.
    pub notes: Vec<String>,
    pub services: usize,
    pub teams: usize,
    pub users: usize,
}

fn get<'n>(n: &'n Node, key: &str) -> Option<&'n Node> {
    match &n.value {
        Value::Map(entries) => entries.iter().find_map(|(k, v)| match &k.value {
            Value::Scalar { text, .. } if text == key => Some(v),
            _ => None,
        }),
        _ => None,
    }
}

fn text(n: Option<&Node>) -> Option<&str> {
    match &n?.value {
        Value::Scalar { text, .. } => Some(text),
        _ => None,
    }
}

fn list(n: Option<&Node>) -> &[Node] {
    match n.map(|n| &n.value) {
        Some(Value::Seq(items)) => items,
        _ => &[],
    }
}

fn keys(n: Option<&Node>) -> Vec<&str> {
    match n.map(|n| &n.value) {
        Some(Value::Map(entries)) => entries
            .iter()
            .filter_map(|(k, _)| match &k.value {
                Value::Scalar { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A YAML double-quoted scalar: the same escapes as JSON, which YAML reads.
fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An entity reference `[kind:][namespace/]name`: its kind (lowercase, if written) and name.
fn entity_ref(r: &str) -> (Option<String>, &str) {
    let (kind, rest) = match r.split_once(':') {
        Some((k, rest)) => (Some(k.to_ascii_lowercase()), rest),
        None => (None, r),
    };
    let name = rest.rsplit_once('/').map_or(rest, |(_, n)| n);
    (kind, name)
}

/// A Backstage name as a Steward name: lowercase, `_` as `-`.
fn steward_name(n: &str) -> String {
    n.to_ascii_lowercase().replace('_', "-")
}

struct Doc<'n> {
    file: Arc<str>,
    kind: String,
    name: String,
    node: &'n Node,
    /// Where its name is written: what notes about the whole entity point at.
    mark: Mark,
}

#[derive(Default)]
struct Out {
    services: Vec<String>,
    teams: BTreeMap<String, (Option<String>, Vec<String>)>,
    users: Vec<String>,
    notes: Vec<String>,
}

impl Out {
    fn note(&mut self, file: &str, mark: Mark, what: impl AsRef<str>) {
        self.notes.push(format!(
            "{file}:{}:{}: {}",
            mark.line,
            mark.col,
            what.as_ref()
        ));
    }
}

/// Imports the documents of `files` (name, text).
pub fn import(files: &[(String, String)]) -> Result<Imported, Vec<Diagnostic>> {
    let mut diags = Diagnostics::default();
    let mut trees: Vec<(Arc<str>, Vec<Node>)> = Vec::new();
    for (name, body) in files {
        let file: Arc<str> = Arc::from(name.as_str());
        match parse_documents(body) {
            Ok(nodes) => trees.push((file, nodes)),
            Err((mark, msg)) => diags.error(
                Loc {
                    file: file.clone(),
                    mark,
                },
                format!("YAML syntax error: {msg}"),
            ),
        }
    }
    if diags.has_errors() {
        return Err(diags.items);
    }
    let mut out = Out::default();
    let mut docs: Vec<Doc> = Vec::new();
    // Each (kind, Steward name) taken, and the Backstage name that took it.
    let mut taken: std::collections::HashMap<(String, String), String> = Default::default();
    for (file, nodes) in &trees {
        for node in nodes {
            let api = text(get(node, "apiVersion")).unwrap_or_default();
            let kind = text(get(node, "kind")).unwrap_or_default().to_string();
            let name_node = get(node, "metadata").and_then(|m| get(m, "name"));
            let name = text(name_node);
            let mark = name_node.map_or(node.mark, |n| n.mark);
            let (true, Some(name)) = (api.starts_with("backstage.io/"), name) else {
                out.note(
                    file,
                    node.mark,
                    format!(
                        "not a Backstage entity (apiVersion `{api}`, kind `{kind}`, with metadata.name): skipped"
                    ),
                );
                continue;
            };
            if !["Component", "Group", "User"].contains(&kind.as_str()) {
                out.note(
                    file,
                    mark,
                    format!(
                        "{kind} `{name}` is not carried over: Steward imports Components, Groups and Users{}",
                        if kind == "Resource" {
                            " (declare a Service for a resource a component depends on to keep the edge)"
                        } else {
                            ""
                        }
                    ),
                );
                continue;
            }
            // Each entity becomes one Steward name, valid and its own.
            let steward = steward_name(name);
            if !crate::docs::is_valid_name(&steward) {
                out.note(
                    file,
                    mark,
                    format!("{kind} `{name}` is skipped: `{steward}` is not a valid Steward name (lowercase letters, digits, `-` and `.`, starting with a letter or digit, at most 255 characters)"),
                );
                continue;
            }
            if let Some(first) = taken.get(&(kind.clone(), steward.clone())) {
                out.note(
                    file,
                    mark,
                    format!(
                        "{kind} `{name}` is skipped: it becomes `{steward}`, as {kind} `{first}` does (Backstage namespaces and letter case are not carried over)"
                    ),
                );
                continue;
            }
            taken.insert((kind.clone(), steward), name.to_string());
            docs.push(Doc {
                file: file.clone(),
                kind,
                name: name.to_string(),
                node,
                mark,
            });
        }
    }
    let components: Vec<String> = docs
        .iter()
        .filter(|d| d.kind == "Component")
        .map(|d| steward_name(&d.name))
        .collect();
    let users: Vec<String> = docs
        .iter()
        .filter(|d| d.kind == "User")
        .map(|d| steward_name(&d.name))
        .collect();
    for d in docs.iter().filter(|d| d.kind == "Group") {
        group(&mut out, d);
    }
    for d in docs.iter().filter(|d| d.kind == "User") {
        user(&mut out, d);
    }
    for d in docs.iter().filter(|d| d.kind == "Component") {
        component(&mut out, d, &components, &users);
    }
    let mut yaml = String::from(
        "# Imported from Backstage by `steward import backstage`. Set each service's tier, its\n# escalation policy and its class; give each person a time zone and a contact.\n",
    );
    let mut first = true;
    let mut sep = |yaml: &mut String| {
        if !first {
            yaml.push_str("---\n");
        }
        first = false;
    };
    for (name, (display, members)) in &out.teams {
        sep(&mut yaml);
        let _ = write!(
            yaml,
            "apiVersion: steward/v1\nkind: Team\nmetadata:\n  name: {}\n",
            q(name)
        );
        if let Some(d) = display {
            let _ = writeln!(yaml, "  displayName: {}", q(d));
        }
        let _ = writeln!(
            yaml,
            "spec:\n  members: [{}]",
            members.iter().map(|m| q(m)).collect::<Vec<_>>().join(", ")
        );
    }
    for u in &out.users {
        sep(&mut yaml);
        yaml.push_str(u);
    }
    for s in &out.services {
        sep(&mut yaml);
        yaml.push_str(s);
    }
    Ok(Imported {
        yaml,
        services: out.services.len(),
        teams: out.teams.len(),
        users: out.users.len(),
        notes: out.notes,
    })
}

/// A description within what Steward takes (longer ones are cut, with a note).
fn description(out: &mut Out, d: &Doc<'_>, desc: &str) -> String {
    let max = crate::docs::MAX_DESCRIPTION;
    if desc.chars().count() <= max {
        return desc.to_string();
    }
    out.note(
        &d.file,
        d.mark,
        format!(
            "{} `{}`: its description is cut to {max} characters, the most Steward takes",
            d.kind, d.name
        ),
    );
    let mut cut: String = desc.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

fn renamed(out: &mut Out, d: &Doc<'_>, name: &str) {
    if name != d.name {
        out.note(
            &d.file,
            d.mark,
            format!(
                "{} `{}` is named `{name}` in Steward (lowercase, `-` for `_`)",
                d.kind, d.name
            ),
        );
    }
}

fn unknown_fields(out: &mut Out, d: &Doc<'_>, spec: Option<&Node>, carried: &[&str]) {
    for k in keys(spec) {
        if !carried.contains(&k) {
            out.note(
                &d.file,
                spec.and_then(|s| get(s, k)).map_or(d.mark, |v| v.mark),
                format!(
                    "{} `{}`: spec.{k} is not carried over (Steward has no such field)",
                    d.kind, d.name
                ),
            );
        }
    }
}

fn group(out: &mut Out, d: &Doc<'_>) {
    let name = steward_name(&d.name);
    renamed(out, d, &name);
    let spec = get(d.node, "spec");
    let display = text(
        spec.and_then(|s| get(s, "profile"))
            .and_then(|p| get(p, "displayName")),
    )
    .or_else(|| text(get(d.node, "metadata").and_then(|m| get(m, "title"))))
    .map(str::to_string);
    let members: Vec<String> = list(spec.and_then(|s| get(s, "members")))
        .iter()
        .filter_map(|m| text(Some(m)))
        .map(|m| steward_name(entity_ref(m).1))
        .filter(|m| crate::docs::is_valid_name(m))
        .collect();
    unknown_fields(out, d, spec, &["type", "profile", "members", "children"]);
    if !list(spec.and_then(|s| get(s, "children"))).is_empty() {
        out.note(
            &d.file,
            d.mark,
            format!(
                "Group `{}`: its children are not carried over; Steward's teams do not nest",
                d.name
            ),
        );
    }
    let entry = out.teams.entry(name).or_default();
    entry.0 = display;
    for m in members {
        if !entry.1.contains(&m) {
            entry.1.push(m);
        }
    }
}

fn user(out: &mut Out, d: &Doc<'_>) {
    let name = steward_name(&d.name);
    renamed(out, d, &name);
    let spec = get(d.node, "spec");
    let profile = spec.and_then(|s| get(s, "profile"));
    let display = text(profile.and_then(|p| get(p, "displayName")));
    let email = text(profile.and_then(|p| get(p, "email")));
    for g in list(spec.and_then(|s| get(s, "memberOf"))) {
        if let Some(g) =
            text(Some(g)).filter(|g| crate::docs::is_valid_name(&steward_name(entity_ref(g).1)))
        {
            let team = out.teams.entry(steward_name(entity_ref(g).1)).or_default();
            if !team.1.contains(&name) {
                team.1.push(name.clone());
            }
        }
    }
    unknown_fields(out, d, spec, &["profile", "memberOf"]);
    let mut y = format!(
        "apiVersion: steward/v1\nkind: User\nmetadata:\n  name: {}\n",
        q(&name)
    );
    if let Some(dn) = display {
        let _ = writeln!(y, "  displayName: {}", q(dn));
    }
    y.push_str("spec:\n  timeZone: UTC\n");
    match email {
        Some(e) => {
            let _ = writeln!(
                y,
                "  email: {}\n  contacts:\n    - {{type: email, address: {}}}",
                q(e),
                q(e)
            );
        }
        None => y.push_str("  contacts: []\n"),
    }
    out.note(
        &d.file,
        d.mark,
        format!(
            "User `{}`: Backstage has no time zone; UTC is assumed{}",
            d.name,
            if email.is_none() {
                ", and without an email nobody can reach them: add a contact"
            } else {
                ""
            }
        ),
    );
    out.users.push(y);
}

fn component(out: &mut Out, d: &Doc<'_>, components: &[String], users: &[String]) {
    let name = steward_name(&d.name);
    renamed(out, d, &name);
    let meta = get(d.node, "metadata");
    let spec = get(d.node, "spec");
    let mut y = format!(
        "apiVersion: steward/v1\nkind: Service\nmetadata:\n  name: {}\n",
        q(&name)
    );
    if let Some(t) = text(meta.and_then(|m| get(m, "title"))) {
        let _ = writeln!(y, "  displayName: {}", q(t));
    }
    y.push_str("spec:\n");
    if let Some(desc) = text(meta.and_then(|m| get(m, "description"))) {
        let _ = writeln!(y, "  description: {}", q(&description(out, d, desc)));
    }
    // The owner: a group becomes the team; a user becomes a team of one.
    let owner_ref = text(spec.and_then(|s| get(s, "owner")))
        .filter(|o| crate::docs::is_valid_name(&steward_name(entity_ref(o).1)));
    if let (None, Some(o)) = (owner_ref, text(spec.and_then(|s| get(s, "owner")))) {
        out.note(
            &d.file,
            d.mark,
            format!(
                "Component `{}`: owner `{o}` is not a valid Steward name",
                d.name
            ),
        );
    }
    let owner = match owner_ref {
        Some(o) => {
            let (kind, n) = entity_ref(o);
            let team = steward_name(n);
            if kind.as_deref() == Some("user") || users.contains(&team) && kind.is_none() {
                out.note(
                    &d.file,
                    d.mark,
                    format!("Component `{}` is owned by user `{n}`: Steward's owners are teams, so `{team}` became a team of one", d.name),
                );
                let t = out.teams.entry(team.clone()).or_default();
                if !t.1.contains(&team) {
                    t.1.push(team.clone());
                }
            } else {
                if !out.teams.contains_key(&team) {
                    out.note(
                        &d.file,
                        d.mark,
                        format!("Component `{}` is owned by group `{n}`, which is not among the imported documents: team `{team}` is made without members; import the Group or add them", d.name),
                    );
                }
                out.teams.entry(team.clone()).or_default();
            }
            team
        }
        None => {
            out.note(
                &d.file,
                d.mark,
                format!(
                    "Component `{}` has no owner: it is given team `unowned`; name its real owner",
                    d.name
                ),
            );
            out.teams.entry("unowned".into()).or_default();
            "unowned".into()
        }
    };
    let _ = writeln!(y, "  owner: {}", q(&owner));
    out.note(
        &d.file,
        d.mark,
        format!(
            "Component `{}`: Backstage has no tier; tier 3 is set, and no escalation policy (its pages reach only a Route)",
            d.name
        ),
    );
    y.push_str("  tier: 3\n");
    match text(spec.and_then(|s| get(s, "lifecycle"))) {
        Some(l @ ("experimental" | "production" | "deprecated")) => {
            let _ = writeln!(y, "  lifecycle: {l}");
        }
        Some(l) => out.note(
            &d.file,
            d.mark,
            format!("Component `{}`: lifecycle `{l}` is not carried over (Steward knows experimental, production, deprecated)", d.name),
        ),
        None => {}
    }
    if let Some(s) = text(spec.and_then(|s| get(s, "system"))) {
        let _ = writeln!(y, "  system: {}", q(entity_ref(s).1));
    }
    let tags: Vec<String> = list(meta.and_then(|m| get(m, "tags")))
        .iter()
        .filter_map(|t| text(Some(t)))
        .map(q)
        .collect();
    if !tags.is_empty() {
        let _ = writeln!(y, "  tags: [{}]", tags.join(", "));
    }
    let mut deps = Vec::new();
    for dep in list(spec.and_then(|s| get(s, "dependsOn"))) {
        let Some(r) = text(Some(dep)) else { continue };
        let (kind, n) = entity_ref(r);
        let n = steward_name(n);
        match kind.as_deref() {
            Some("component") | None if components.contains(&n) => {
                if n != name && !deps.contains(&n) {
                    deps.push(n);
                }
            }
            _ => out.note(
                &d.file,
                dep.mark,
                format!(
                    "Component `{}`: dependsOn `{r}` is left out: {}",
                    d.name,
                    if matches!(kind.as_deref(), Some("component") | None) {
                        "no such Component among the imported documents; import it too"
                    } else {
                        "Steward's services depend on services; declare it as a Service to keep the edge"
                    }
                ),
            ),
        }
    }
    if !deps.is_empty() {
        let _ = writeln!(
            y,
            "  dependsOn: [{}]",
            deps.iter().map(|d| q(d)).collect::<Vec<_>>().join(", ")
        );
    }
    let links: Vec<(String, String)> = list(meta.and_then(|m| get(m, "links")))
        .iter()
        .filter_map(|l| {
            let url = text(get(l, "url"))?;
            let title = text(get(l, "title")).unwrap_or(url);
            Some((title.to_string(), url.to_string()))
        })
        .collect();
    if !links.is_empty() {
        y.push_str("  links:\n");
        for (t, u) in &links {
            let _ = writeln!(y, "    - {{title: {}, url: {}}}", q(t), q(u));
        }
    }
    unknown_fields(
        out,
        d,
        spec,
        &["type", "lifecycle", "owner", "system", "dependsOn"],
    );
    if let Some(t) = text(spec.and_then(|s| get(s, "type"))) {
        out.note(
            &d.file,
            d.mark,
            format!("Component `{}`: type `{t}` is not carried over; a ServiceClass (spec.class) says what kind of service it is", d.name),
        );
    }
    if !keys(meta.and_then(|m| get(m, "annotations"))).is_empty() {
        out.note(
            &d.file,
            d.mark,
            format!(
                "Component `{}`: its annotations are not carried over",
                d.name
            ),
        );
    }
    out.services.push(y);
}
