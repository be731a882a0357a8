//! The catalog a process runs: the built-in detections plus the user's own rules, loaded at
//! start-up from directories named in the config (`[rules] paths`) or on the command line
//! (`--path`), never from tailwatch's source tree.
//!
//! TOML rules are read at run time, so adding one needs no build. Rust detections of the user's
//! are compiled in by the `tailwatch-user` crate (see docs/DETECTIONS.md) and passed here as
//! `extra` definitions.

use std::path::Path;

use super::declarative::{RuleError, TomlRule};
use super::Definition;

/// The user's TOML rules.
#[derive(Debug, Clone, Default)]
pub struct UserRules {
    /// The rules, in file-name order per directory.
    pub rules: Vec<TomlRule>,
}

impl UserRules {
    /// Loads every `*.toml` file in each directory (a path to a single file loads that file).
    ///
    /// # Errors
    /// Every mistake found, each with its file and line (an unreadable directory or file counts).
    pub fn load(paths: &[impl AsRef<Path>]) -> Result<Self, Vec<RuleError>> {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for dir in paths {
            let dir = dir.as_ref();
            let files = if dir.is_file() {
                vec![dir.to_path_buf()]
            } else {
                match std::fs::read_dir(dir) {
                    Ok(entries) => {
                        let mut files: Vec<_> = entries
                            .flatten()
                            .map(|e| e.path())
                            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                            .collect();
                        files.sort();
                        files
                    }
                    Err(e) => {
                        errors.push(RuleError {
                            file: dir.display().to_string(),
                            line: 1,
                            message: format!("cannot read the rules directory: {e}"),
                        });
                        continue;
                    }
                }
            };
            for file in files {
                let name = file.display().to_string();
                match std::fs::read_to_string(&file) {
                    Ok(text) => match TomlRule::parse(&name, &text) {
                        Ok(rule) => rules.push(rule),
                        Err(e) => errors.push(e),
                    },
                    Err(e) => errors.push(RuleError {
                        file: name,
                        line: 1,
                        message: format!("cannot read: {e}"),
                    }),
                }
            }
        }
        if errors.is_empty() {
            Ok(UserRules { rules })
        } else {
            Err(errors)
        }
    }

    /// Parses rules from (file name, text) pairs (the detect function's bundled rules).
    ///
    /// # Errors
    /// As [`UserRules::load`].
    pub fn from_texts<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, Vec<RuleError>> {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for (name, text) in files {
            match TomlRule::parse(name, text) {
                Ok(r) => rules.push(r),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(UserRules { rules })
        } else {
            Err(errors)
        }
    }

    /// The built-ins, then `extra` (the user's Rust detections), then these rules.
    ///
    /// # Errors
    /// A user detection reusing an id, naming where each comes from.
    pub fn definitions<'a>(&'a self, extra: &[&'a dyn Definition]) -> Result<Vec<&'a dyn Definition>, RuleError> {
        let mut all: Vec<&dyn Definition> = crate::detections::ALL.to_vec();
        all.extend_from_slice(extra);
        all.extend(self.rules.iter().map(|r| r as &dyn Definition));
        for (i, d) in all.iter().enumerate() {
            if let Some(first) = all[..i].iter().find(|o| o.meta().id == d.meta().id) {
                return Err(RuleError {
                    file: d.source().to_owned(),
                    line: 1,
                    message: format!("detection id `{}` is already defined ({})", d.meta().id, first.source()),
                });
            }
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_a_directory_and_rejects_a_duplicate_id() {
        let dir = std::env::temp_dir().join(format!("tailwatch-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rule = "id = \"Tailscale.MagicDNS.Disabled\"\nlog_type = \"audit\"\nseverity = \"LOW\"\ntitle = \"x\"\n[[match]]\nfield = \"action\"\nequals = \"DISABLE\"\n";
        std::fs::write(dir.join("a.toml"), rule).unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        let user = UserRules::load(&[&dir]).unwrap();
        assert_eq!(user.rules.len(), 1);
        let Err(e) = user.definitions(&[]) else {
            panic!("a duplicate id is an error")
        };
        assert!(e.message.contains("already defined (built-in)"), "{e}");
        std::fs::write(dir.join("b.toml"), "id = 1").unwrap();
        let errors = UserRules::load(&[&dir]).unwrap_err();
        assert!(errors[0].file.ends_with("b.toml"), "{errors:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
