//! Command manifests (`commands/NAME.toml`): the flags an admin edits — who
//! may run a command, where, how often — and its help text. Validated with
//! errors that name the file and the key; reloaded on change.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::config::{Language, Plan};
use crate::live::Loadable;
use crate::texts::{self, Builtin};

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// From the file name (`crm.toml` → `crm`).
    #[serde(skip)]
    pub name: String,
    /// The admin's own words for `#help`; empty: the built-in text in the
    /// reader's language (see [`Manifest::describe`]).
    #[serde(default)]
    pub description: String,
    pub usage: String,
    /// Other names that run it (`menu` for `help`).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Needs one of `[bot] prefixes` (false: the bare word runs it).
    #[serde(default = "yes")]
    pub prefix: bool,
    #[serde(default)]
    pub owner_only: bool,
    #[serde(default)]
    pub premium_only: bool,
    /// Minimum licence plan of this installation.
    #[serde(default)]
    pub plan: Plan,
    #[serde(default)]
    pub group_only: bool,
    /// Only group admins, in a group.
    #[serde(default)]
    pub admin_group_only: bool,
    #[serde(default)]
    pub private_only: bool,
    /// Uses per user per day (0 = unlimited).
    #[serde(default)]
    pub limit: u32,
    /// Seconds between two uses by the same user.
    #[serde(default)]
    pub cooldown: u64,
    /// Minimum user level.
    #[serde(default)]
    pub level: u32,
    #[serde(default, rename = "subcommand")]
    pub subcommands: Vec<Subcommand>,
    /// Why this command's file could not be used (file and key named): the
    /// command is refused with it; the other commands keep their manifests.
    #[serde(skip)]
    pub broken: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Subcommand {
    pub name: String,
    pub usage: String,
    /// Like [`Manifest::description`].
    #[serde(default)]
    pub description: String,
    pub example: String,
}

impl Manifest {
    /// The stand-in for a command whose file is broken: found, and refused.
    fn broken(name: &str, error: &ManifestError) -> Manifest {
        Manifest {
            name: name.to_string(),
            description: String::new(),
            usage: String::new(),
            aliases: Vec::new(),
            prefix: true,
            owner_only: true,
            premium_only: false,
            plan: Plan::default(),
            group_only: false,
            admin_group_only: false,
            private_only: false,
            limit: 0,
            cooldown: 0,
            level: 0,
            subcommands: Vec::new(),
            broken: Some(error.to_string()),
        }
    }

    /// What `#help` says of the command: the manifest's `description` when
    /// given, else the built-in text in `lang`.
    pub fn describe(&self, lang: Language) -> &str {
        described(&self.description, &self.name, None, lang)
    }

    /// Likewise for one of its subcommands.
    pub fn describe_sub<'a>(&'a self, sub: &'a Subcommand, lang: Language) -> &'a str {
        described(&sub.description, &self.name, Some(&sub.name), lang)
    }

    pub fn subcommand(&self, name: &str) -> Option<&Subcommand> {
        self.subcommands.iter().find(|s| s.name.eq_ignore_ascii_case(name))
    }
}

fn described<'a>(own: &'a str, command: &str, sub: Option<&str>, lang: Language) -> &'a str {
    match Builtin::named(command, sub) {
        Some(builtin) if own.trim().is_empty() => texts::of(lang).describe(builtin),
        _ => own,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{file}: {message}")]
    Read { file: PathBuf, message: String },
    #[error("{file}: key `{key}`: {message}")]
    Key { file: PathBuf, key: String, message: String },
    /// A set with a broken file, checked as a whole.
    #[error("{0}")]
    Broken(String),
}

/// The loaded set: each manifest by name and alias.
#[derive(Debug, Clone, Default)]
pub struct Manifests {
    by_name: HashMap<String, Arc<Manifest>>,
    /// Sorted by name, each once.
    all: Vec<Arc<Manifest>>,
    version: String,
}

/// The manifests this build ships; `commands/` overrides them file by file.
const EMBEDDED: [(&str, &str); 4] = [
    ("crm.toml", include_str!("../../commands/crm.toml")),
    ("help.toml", include_str!("../../commands/help.toml")),
    ("label.toml", include_str!("../../commands/label.toml")),
    ("paket.toml", include_str!("../../commands/paket.toml")),
];

impl Manifests {
    pub fn get(&self, name: &str) -> Option<&Arc<Manifest>> {
        self.by_name.get(name)
    }

    pub fn all(&self) -> &[Arc<Manifest>] {
        &self.all
    }

    /// Parses and validates `(file name, text)` pairs. `handlers`: the
    /// command names this build can run. A file that fails disables its own
    /// command (see [`Manifest::broken`]), never the others.
    pub fn parse(files: &[(PathBuf, String)], handlers: &[&str]) -> Manifests {
        let mut by_file = BTreeMap::new();
        for (file, text) in files {
            let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_lowercase();
            let manifest = parse_one(file, &name, text, handlers).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "command `{name}` disabled until its manifest is fixed");
                Manifest::broken(&name, &e)
            });
            by_file.insert(name, (file.clone(), manifest));
        }
        let mut set = Manifests::default();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for (name, (file, mut manifest)) in by_file {
            let names = || std::iter::once(&name).chain(&manifest.aliases);
            if let Some(taken) = names().find(|n| set.by_name.contains_key(*n)).cloned() {
                let message = format!("the name `{taken}` is already used by another command");
                manifest = Manifest::broken(&name, &ManifestError::Read { file, message });
            }
            let manifest = Arc::new(manifest);
            format!("{manifest:?}").hash(&mut hasher);
            for n in std::iter::once(&name).chain(&manifest.aliases) {
                set.by_name.entry(n.clone()).or_insert_with(|| manifest.clone());
            }
            set.all.push(manifest);
        }
        set.version = format!("{:016x}", hasher.finish());
        set
    }

    /// The first broken manifest's error, if any (for `juru commands check`).
    pub fn check(self) -> Result<Manifests, ManifestError> {
        match self.all.iter().find_map(|m| m.broken.clone()) {
            Some(message) => Err(ManifestError::Broken(message)),
            None => Ok(self),
        }
    }

    /// The set this build ships, with nothing overridden.
    pub fn builtin(handlers: &[&str]) -> Result<Manifests, ManifestError> {
        Manifests::parse(&builtin_files().into_values().collect::<Vec<_>>(), handlers).check()
    }

    /// The embedded set, overridden by every `*.toml` in `dir` (a missing folder overrides nothing).
    pub fn load_dir(dir: &Path, handlers: &[&str]) -> Result<Manifests, ManifestError> {
        let mut files = builtin_files();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "toml") {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| ManifestError::Read { file: path.clone(), message: e.to_string() })?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    files.insert(name, (path, text));
                }
            }
        }
        Ok(Manifests::parse(&files.into_values().collect::<Vec<_>>(), handlers))
    }
}

/// One file, validated; its errors name the file and the key.
fn parse_one(file: &Path, name: &str, text: &str, handlers: &[&str]) -> Result<Manifest, ManifestError> {
    let key_err = |key: &str, message: &str| ManifestError::Key {
        file: file.to_path_buf(),
        key: key.to_string(),
        message: message.to_string(),
    };
    let table: toml::Table =
        toml::from_str(text).map_err(|e| ManifestError::Read { file: file.to_path_buf(), message: e.to_string() })?;
    let mut manifest: Manifest = serde_path_to_error::deserialize(toml::Value::Table(table))
        .map_err(|e| key_err(&e.path().to_string(), &e.inner().to_string()))?;
    manifest.name = name.to_string();
    if !is_command_name(name) {
        return Err(ManifestError::Read {
            file: file.to_path_buf(),
            message: "a command's file name must be lowercase letters, digits or `-`".into(),
        });
    }
    if !handlers.contains(&name) {
        return Err(ManifestError::Read {
            file: file.to_path_buf(),
            message: format!("there is no handler for `{name}` in this build (known: {})", handlers.join(", ")),
        });
    }
    if manifest.usage.trim().is_empty() {
        return Err(key_err("usage", "must not be empty"));
    }
    if manifest.description.trim().is_empty() && Builtin::named(name, None).is_none() {
        return Err(key_err("description", "must not be empty (this command has no built-in text)"));
    }
    let only = [manifest.group_only, manifest.private_only].iter().filter(|f| **f).count();
    if only > 1 || (manifest.private_only && manifest.admin_group_only) {
        return Err(key_err("private_only", "cannot be combined with group_only or admin_group_only"));
    }
    for (i, alias) in manifest.aliases.iter().enumerate() {
        if !is_command_name(alias) {
            return Err(key_err(&format!("aliases[{i}]"), "must be lowercase letters, digits or `-`"));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, sub) in manifest.subcommands.iter().enumerate() {
        if !is_command_name(&sub.name) {
            return Err(key_err(&format!("subcommand[{i}].name"), "must be lowercase letters, digits or `-`"));
        }
        if !seen.insert(sub.name.clone()) {
            return Err(key_err(&format!("subcommand[{i}].name"), &format!("`{}` is listed twice", sub.name)));
        }
        for (key, value) in [("usage", &sub.usage), ("example", &sub.example)] {
            if value.trim().is_empty() {
                return Err(key_err(&format!("subcommand[{i}].{key}"), "must not be empty"));
            }
        }
        if sub.description.trim().is_empty() && Builtin::named(name, Some(&sub.name)).is_none() {
            return Err(key_err(
                &format!("subcommand[{i}].description"),
                "must not be empty (this subcommand has no built-in text)",
            ));
        }
    }
    Ok(manifest)
}

/// The shipped manifests by file name, as `built-in/NAME.toml`.
fn builtin_files() -> BTreeMap<String, (PathBuf, String)> {
    EMBEDDED.iter().map(|(n, t)| (n.to_string(), (PathBuf::from(format!("built-in/{n}")), t.to_string()))).collect()
}

fn is_command_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Loadable for Manifests {
    type Error = ManifestError;
    const WHAT: &'static str = "command manifests";

    fn load(dir: &Path) -> Result<Manifests, ManifestError> {
        Manifests::load_dir(dir, super::HANDLER_NAMES)
    }

    /// The shipped manifests; a test keeps them valid.
    fn embedded() -> Manifests {
        Manifests::builtin(super::HANDLER_NAMES).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the built-in command manifests are invalid");
            Manifests::default()
        })
    }

    fn version(&self) -> String {
        self.version.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifests, ManifestError> {
        Manifests::parse(&[(PathBuf::from("commands/crm.toml"), text.to_string())], &["crm", "help"]).check()
    }

    #[test]
    fn the_shipped_manifests_are_valid() {
        let set = Manifests::builtin(super::super::HANDLER_NAMES).unwrap();
        assert!(set.get("crm").is_some_and(|m| m.owner_only && m.subcommand("deals").is_some()));
        assert!(set.get("menu").is_some(), "help answers to #menu too");
    }

    #[test]
    fn a_misspelt_key_names_the_file_and_the_key() {
        let err = parse("description = \"d\"\nusage = \"u\"\n[[subcommand]]\nname = \"x\"\nusage = \"u\"\ndescription = \"d\"\nexmaple = \"e\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("commands/crm.toml: key `subcommand[0]"), "{err}");
        assert!(err.contains("exmaple"), "{err}");
    }

    #[test]
    fn a_wrong_type_and_a_bad_plan_name_the_key() {
        let err = parse("description = \"d\"\nusage = \"u\"\ncooldown = \"ten\"\n").unwrap_err().to_string();
        assert!(err.contains("key `cooldown`"), "{err}");
        let err = parse("description = \"d\"\nusage = \"u\"\nplan = \"gold\"\n").unwrap_err().to_string();
        assert!(err.contains("key `plan`") && err.contains("nitro"), "{err}");
    }

    #[test]
    fn contradictory_flags_and_unknown_handlers_are_refused() {
        let err = parse("description = \"d\"\nusage = \"u\"\ngroup_only = true\nprivate_only = true\n").unwrap_err();
        assert!(err.to_string().contains("private_only"), "{err}");
        let err = Manifests::parse(
            &[(PathBuf::from("commands/dance.toml"), "description = \"d\"\nusage = \"u\"\n".into())],
            &["crm"],
        )
        .check()
        .unwrap_err();
        assert!(err.to_string().contains("no handler for `dance`"), "{err}");
    }
}
