//! Prompt files apply without restart: the prompt folder is a [`LiveDir`].

use std::path::Path;

use super::prompts::{PromptError, Prompts};
use crate::live::{LiveDir, Loadable};

impl Loadable for Prompts {
    type Error = PromptError;
    const WHAT: &'static str = "prompts";

    fn load(dir: &Path) -> Result<Prompts, PromptError> {
        Prompts::load(dir)
    }

    fn embedded() -> Prompts {
        Prompts::embedded()
    }

    fn version(&self) -> String {
        self.version.clone()
    }
}

pub type PromptStore = LiveDir<Prompts>;
