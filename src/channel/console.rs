//! The console channel of `juru chat`: outbound items printed, one per line.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::{OutBody, Outgoing, Sent};

/// `juru chat` and the playground show everything as text.
pub const CAPABILITIES: super::Capabilities =
    super::Capabilities { buttons: false, labels: false, typing_marks_read: false, metered: false };

#[derive(Clone)]
pub struct ConsoleSink {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    json: bool,
}

/// One printed line in `--json` mode.
#[derive(Serialize)]
struct Line<'a> {
    to: String,
    kind: &'a str,
    text: Option<&'a str>,
    url: Option<&'a str>,
    phase: Option<&'a str>,
    lang: Option<&'a str>,
    handover: bool,
}

impl ConsoleSink {
    pub fn new(out: Box<dyn Write + Send>, json: bool) -> ConsoleSink {
        ConsoleSink { out: Arc::new(Mutex::new(out)), json }
    }

    pub fn send(&self, out: &Outgoing) -> Sent {
        let numbered;
        let (text, url) = match &out.body {
            OutBody::Text { text } => (Some(text.as_str()), None),
            OutBody::Buttons { text, buttons } => {
                numbered = OutBody::numbered(text, buttons);
                (Some(numbered.as_str()), None)
            }
            OutBody::Image { url, caption } | OutBody::Document { url, caption, .. } => {
                (caption.as_deref(), Some(url.as_str()))
            }
            OutBody::Video { url, caption } => (caption.as_deref(), Some(url.as_str())),
            OutBody::Location { address, .. } => (address.as_deref(), None),
            OutBody::Typing { .. } | OutBody::Seen { .. } => (None, None),
            OutBody::Labels { names, .. } => {
                numbered = format!("labels: {}", names.join(", "));
                (Some(numbered.as_str()), None)
            }
        };
        let line = if self.json {
            let line = Line {
                to: out.to.key(),
                kind: out.body.kind(),
                text,
                url,
                phase: out.meta.phase.as_deref(),
                lang: out.meta.lang.as_deref(),
                handover: out.meta.handover,
            };
            serde_json::to_string(&line).unwrap_or_default()
        } else {
            match (&out.body, text, url) {
                (OutBody::Typing { .. }, ..) => "… typing".to_string(),
                (OutBody::Seen { .. }, ..) => "✓✓ seen".to_string(),
                (_, text, Some(url)) => {
                    format!("[{}] {url} {}", out.body.kind(), text.unwrap_or_default())
                }
                (_, Some(text), None) => format!("bot: {text}"),
                _ => String::new(),
            }
        };
        let mut sink = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(sink, "{line}");
        let _ = sink.flush();
        Sent { remote_id: None }
    }
}
