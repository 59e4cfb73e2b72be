//! The prompt folder admins edit: `base.md`, `company.md`, `rules.md`,
//! `escalation.md`, `phases/{leads,interest,booking}.md` and `packages.toml`.
//! Each loaded set has a version (front-matter `version:` plus a content hash)
//! that every reply's audit record names.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::catalog::{Catalog, CatalogError};
use super::playbook::{Playbook, PlaybookError};
use super::state::Phase;

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Playbook(#[from] PlaybookError),
    #[error("{file}: {message}")]
    Invalid { file: &'static str, message: String },
}

/// What `company.md`'s front matter tells the bot it may say and send.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Company {
    pub name: String,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub office_hours: Option<String>,
    pub testimonial_videos: Vec<String>,
    pub payment_terms: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Prompts {
    /// `2026-11-01+3f2a9c1b04de` — front-matter version (if any) + content hash.
    pub version: String,
    pub base: String,
    pub company_text: String,
    pub rules: String,
    pub escalation: String,
    pub phases: [String; 3],
    pub company: Company,
    pub catalog: Catalog,
    pub playbook: Playbook,
}

/// The files of a prompt folder, in the order they are composed.
pub const FILES: [&str; 9] = [
    "base.md",
    "company.md",
    "rules.md",
    "escalation.md",
    "phases/leads.md",
    "phases/interest.md",
    "phases/booking.md",
    "packages.toml",
    "playbook.toml",
];

/// The default set shipped in the binary, used when the folder is missing.
const EMBEDDED: [&str; 9] = [
    include_str!("../../prompts/base.md"),
    include_str!("../../prompts/company.md"),
    include_str!("../../prompts/rules.md"),
    include_str!("../../prompts/escalation.md"),
    include_str!("../../prompts/phases/leads.md"),
    include_str!("../../prompts/phases/interest.md"),
    include_str!("../../prompts/phases/booking.md"),
    include_str!("../../prompts/packages.toml"),
    include_str!("../../prompts/playbook.toml"),
];

/// The file behind each `prompt_type` of `PUT /api/ai/prompts`.
pub fn file_of(prompt_type: &str) -> Option<&'static str> {
    Some(match prompt_type {
        "base" => FILES[0],
        "company" => FILES[1],
        "rules" => FILES[2],
        "escalation" => FILES[3],
        "leads" | "phase_leads" => FILES[4],
        "interest" | "phase_interest" => FILES[5],
        "booking" | "phase_booking" => FILES[6],
        "packages" | "catalog" => FILES[7],
        "playbook" => FILES[8],
        _ => return None,
    })
}

impl Prompts {
    pub fn load(dir: &Path) -> Result<Prompts, PromptError> {
        Prompts::load_with(dir, None)
    }

    /// Loads the folder as it would be with `file` replaced by `content`
    /// (validates an edit before it is written).
    pub fn load_with(dir: &Path, replace: Option<(&str, &str)>) -> Result<Prompts, PromptError> {
        let mut texts = Vec::with_capacity(FILES.len());
        for file in FILES {
            match replace {
                Some((f, content)) if f == file => texts.push(content.to_string()),
                _ => {
                    let path = dir.join(file);
                    match std::fs::read_to_string(&path) {
                        Ok(text) => texts.push(text),
                        // A folder from before the playbook existed runs on the shipped one.
                        Err(e) if file == "playbook.toml" && e.kind() == std::io::ErrorKind::NotFound => {
                            texts.push(EMBEDDED[8].to_string())
                        }
                        Err(source) => return Err(PromptError::Read { path, source }),
                    }
                }
            }
        }
        Prompts::from_texts(&texts)
    }

    /// Writes one prompt file atomically after validating the whole set with
    /// it; the previous content is kept in `.history/`. Returns the new version.
    pub fn write(dir: &Path, file: &str, content: &str, updated_by: &str) -> Result<String, PromptError> {
        let next = Prompts::load_with(dir, Some((file, content)))?;
        fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PromptError + '_ {
            move |source| PromptError::Read { path: path.to_path_buf(), source }
        }
        let target = dir.join(file);
        let history = dir.join(".history");
        std::fs::create_dir_all(&history).map_err(io(&history))?;
        let stamp = crate::clock::now_ms();
        let who: String = updated_by.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(32).collect();
        let kept = history.join(format!("{}.{stamp}.{who}", file.replace('/', "_")));
        std::fs::copy(&target, &kept).map_err(io(&kept))?;
        let tmp = dir.join(format!(".{}.tmp", file.replace('/', "_")));
        std::fs::write(&tmp, content).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &target).map_err(io(&target))?;
        Ok(next.version)
    }

    pub fn embedded() -> Prompts {
        let texts: Vec<String> = EMBEDDED.iter().map(|t| t.to_string()).collect();
        Prompts::from_texts(&texts).expect("the embedded prompts are checked by a unit test")
    }

    fn from_texts(texts: &[String]) -> Result<Prompts, PromptError> {
        let mut hash = Sha256::new();
        for (file, text) in FILES.iter().zip(texts) {
            hash.update(file.as_bytes());
            hash.update([0]);
            hash.update(text.as_bytes());
        }
        let catalog = Catalog::parse(&texts[7])?;
        let playbook = Playbook::parse(&texts[8])?;
        let (company_meta, company_text) = front_matter(&texts[1]);
        let company = company_from(&company_meta)?;
        let declared = front_matter(&texts[0]).0.into_iter().find(|(k, _)| k == "version").map(|(_, v)| v);
        let digest = hex::encode(hash.finalize());
        let version = match declared {
            Some(v) => format!("{v}+{}", &digest[..12]),
            None => digest[..12].to_string(),
        };
        let body = |i: usize| front_matter(&texts[i]).1.to_string();
        Ok(Prompts {
            version,
            base: body(0),
            company_text: company_text.to_string(),
            rules: body(2),
            escalation: body(3),
            phases: [body(4), body(5), body(6)],
            company,
            catalog,
            playbook,
        })
    }

    /// What `juru prompts check` prints: what each file contributes, then warnings.
    pub fn report(&self, today: i64) -> Vec<String> {
        let words = |t: &str| t.split_whitespace().count();
        let mut out = vec![
            format!("base.md: {} words of the LLM's instructions", words(&self.base)),
            format!(
                "company.md: {} (address: {}, {} testimonial videos)",
                self.company.name,
                self.company.address.is_some(),
                self.company.testimonial_videos.len()
            ),
            format!("rules.md: {} words (LLM)", words(&self.rules)),
            format!(
                "escalation.md: {} words (LLM; the offline bot's triggers are in playbook.toml)",
                words(&self.escalation)
            ),
        ];
        for (phase, text) in ["leads", "interest", "booking"].iter().zip(&self.phases) {
            out.push(format!("phases/{phase}.md: {} words (LLM)", words(text)));
        }
        out.push(format!(
            "packages.toml: {} packages, {} offered today",
            self.catalog.packages.len(),
            self.catalog.available_on(today).len()
        ));
        out.push(self.playbook.summary());
        out.extend(self.catalog.warnings(today, 14).into_iter().map(|w| format!("warning: {w}")));
        out
    }

    pub fn phase_prompt(&self, phase: Phase) -> &str {
        &self.phases[phase as usize]
    }

    /// A link the bot may send: from the catalog or `company.md`, never invented.
    pub fn knows_url(&self, url: &str) -> bool {
        self.catalog.knows_url(url) || self.company.testimonial_videos.iter().any(|v| v == url)
    }
}

/// `---\nkey: value\n---\nbody` → the pairs and the body.
fn front_matter(text: &str) -> (Vec<(String, String)>, &str) {
    let Some(rest) = text.strip_prefix("---\n") else { return (Vec::new(), text) };
    let Some(end) = rest.find("\n---") else { return (Vec::new(), text) };
    let pairs = rest[..end]
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let body = rest[end + 4..].trim_start_matches(['-', '\n']);
    (pairs, body)
}

fn company_from(pairs: &[(String, String)]) -> Result<Company, PromptError> {
    let mut c = Company::default();
    for (key, value) in pairs {
        let number = |v: &str| {
            v.parse::<f64>()
                .map_err(|_| PromptError::Invalid { file: "company.md", message: format!("`{key}` must be a number") })
        };
        match key.as_str() {
            "name" => c.name = value.clone(),
            "address" => c.address = Some(value.clone()),
            "latitude" => c.latitude = Some(number(value)?),
            "longitude" => c.longitude = Some(number(value)?),
            "office_hours" => c.office_hours = Some(value.clone()),
            "payment_terms" => c.payment_terms = Some(value.clone()),
            "testimonial_video" => {
                if !value.starts_with("https://") && !value.starts_with("http://") {
                    return Err(PromptError::Invalid {
                        file: "company.md",
                        message: "testimonial_video must be a link".into(),
                    });
                }
                c.testimonial_videos.push(value.clone());
            }
            "version" => {}
            other => {
                return Err(PromptError::Invalid {
                    file: "company.md",
                    message: format!("unknown front-matter key `{other}`"),
                });
            }
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_prompts_load_with_a_version() {
        let prompts = Prompts::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/prompts"))).unwrap();
        assert!(!prompts.catalog.packages.is_empty());
        assert!(prompts.company.address.is_some());
        assert!(prompts.version.len() >= 12);
    }

    #[test]
    fn a_folder_without_a_playbook_uses_the_shipped_one() {
        let dir = tempfile::tempdir().unwrap();
        let shipped = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/prompts"));
        std::fs::create_dir_all(dir.path().join("phases")).unwrap();
        for file in FILES.iter().filter(|f| **f != "playbook.toml") {
            std::fs::copy(shipped.join(file), dir.path().join(file)).unwrap();
        }
        let prompts = Prompts::load(dir.path()).unwrap();
        assert!(!prompts.playbook.escalate.is_empty());
    }

    #[test]
    fn front_matter_is_split_from_the_body() {
        let (pairs, body) = front_matter("---\nversion: 3\n---\n# Hello\n");
        assert_eq!(pairs, vec![("version".to_string(), "3".to_string())]);
        assert_eq!(body, "# Hello\n");
    }
}
