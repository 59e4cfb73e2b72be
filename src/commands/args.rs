//! Shell-like argument parsing for owner commands typed in WhatsApp.
//!
//! The caller strips the command name (and subcommand) and hands the rest here, e.g.
//! `add-step "New Lead Welcome" --day 3 "Halo kak, ada promo"`.
//!
//! Tokenising rules:
//! - whitespace (any Unicode whitespace, including newlines and no-break spaces) separates tokens;
//! - `"..."` and `'...'` group words, also in the middle of a token (`--where="a b"`);
//! - the curly quotes phone keyboards insert count as quotes too: `“ ”` as double, `‘ ’` as single;
//!   any double quote closes any double quote, any single quote closes any single quote;
//! - a single quote between two letters or digits (`Jum'at`, `don’t`) is an apostrophe, not a quote;
//! - a backslash escapes the next character outside quotes and inside double quotes; inside single
//!   quotes it is literal, and a trailing backslash is kept as is. Escaped characters count as quoted.
//!
//! Flag rules (see [`Args::parse`]):
//! - long flags only: `--name value`, `--name=value`, `--switch`; names are case-insensitive and `_`
//!   equals `-`; an em or en dash followed by a letter (`—oauth`, what phones make of `--oauth`) counts
//!   as `--`;
//! - a token whose `--name` part is quoted or escaped is a positional, never a flag;
//! - `--` alone ends flag parsing; single-dash tokens such as `-5` are positionals.

use std::collections::BTreeMap;

/// How one flag is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// `--name value` or `--name=value`.
    Value,
    /// `--name` alone (or `--name=yes|no|true|false`).
    Switch,
}

/// One flag a subcommand accepts.
#[derive(Debug, Clone, Copy)]
pub struct FlagSpec {
    /// Flag name without the leading `--`; matched case-insensitively, `_` and `-` alike.
    pub name: &'static str,
    pub kind: FlagKind,
}

impl FlagSpec {
    /// A flag that takes a value.
    pub const fn value(name: &'static str) -> FlagSpec {
        FlagSpec { name, kind: FlagKind::Value }
    }

    /// A flag that is on when present.
    pub const fn switch(name: &'static str) -> FlagSpec {
        FlagSpec { name, kind: FlagKind::Switch }
    }
}

/// One token of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token's text with quotes removed and escapes resolved.
    pub text: String,
    /// true if any part was quoted (a quoted "--x" is a positional, not a flag)
    pub quoted: bool,
    /// 1-based char column where the token starts
    pub column: usize,
}

/// Why a command's arguments could not be read. `Display` is for logs and
/// tests; the reply is worded per language by `crate::texts`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    #[error("unterminated quote starting at column {column}")]
    UnterminatedQuote { column: usize },
    #[error("unknown option --{name}")]
    UnknownFlag { name: String },
    #[error("--{name} needs a value")]
    MissingValue { name: String },
    #[error("--{name} takes no value")]
    UnexpectedValue { name: String },
    #[error("--{name} is given twice")]
    Repeated { name: String },
    #[error("missing {what}")]
    Missing { what: &'static str },
    #[error("unexpected \"{text}\"")]
    Extra { text: String },
    #[error("--{name} must be a number, not \"{text}\"")]
    NotANumber { name: String, text: String },
}

/// Parsed arguments: positionals in order, flags by normalised name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    positionals: Vec<String>,
    values: BTreeMap<String, String>,
    switches: BTreeMap<String, bool>,
}

/// Splits into tokens, honouring quotes and escapes. Used by `Args::parse` and on its own.
pub fn tokenize(input: &str) -> Result<Vec<Token>, ArgsError> {
    Ok(scan(input)?.into_iter().map(|raw| Token { text: raw.text, quoted: raw.quoted, column: raw.column }).collect())
}

impl Args {
    /// Parses with the subcommand's flag specs: unknown flags, a Value flag without a value, a Switch given a value
    /// (`--oauth=yes` is allowed only for true/false/yes/no), and repeated flags are errors.
    ///
    /// `--name value` takes the next token as the value unless that token is itself an (unquoted) flag or `--`,
    /// in which case the flag is reported as missing its value. `--name=` with nothing after the `=` is also a
    /// missing value; `--name=""` is an explicit empty value.
    pub fn parse(input: &str, specs: &[FlagSpec]) -> Result<Args, ArgsError> {
        let tokens = scan(input)?;
        let specs: Vec<(String, FlagKind)> = specs.iter().map(|s| (normalize(s.name), s.kind)).collect();
        let mut args = Args::default();
        let mut flags_done = false;
        let mut i = 0;
        while let Some(tok) = tokens.get(i) {
            i += 1;
            if flags_done {
                args.positionals.push(tok.text.clone());
                continue;
            }
            let (name, inline) = match classify(tok) {
                Shape::Positional => {
                    args.positionals.push(tok.text.clone());
                    continue;
                }
                Shape::Terminator => {
                    flags_done = true;
                    continue;
                }
                Shape::Flag { name, inline } => (normalize(name), inline),
            };
            let Some(kind) = specs.iter().find(|(n, _)| *n == name).map(|(_, k)| *k) else {
                return Err(ArgsError::UnknownFlag { name });
            };
            if args.values.contains_key(&name) || args.switches.contains_key(&name) {
                return Err(ArgsError::Repeated { name });
            }
            match kind {
                FlagKind::Value => {
                    let value = match inline {
                        Inline::Text(text) => text.to_string(),
                        Inline::Bare => return Err(ArgsError::MissingValue { name }),
                        Inline::None => match tokens.get(i) {
                            Some(next) if matches!(classify(next), Shape::Positional) => {
                                i += 1;
                                next.text.clone()
                            }
                            _ => return Err(ArgsError::MissingValue { name }),
                        },
                    };
                    args.values.insert(name, value);
                }
                FlagKind::Switch => {
                    let on = match inline {
                        Inline::None => true,
                        Inline::Text(text) => match text.trim().to_lowercase().as_str() {
                            "true" | "yes" => true,
                            "false" | "no" => false,
                            _ => return Err(ArgsError::UnexpectedValue { name }),
                        },
                        Inline::Bare => return Err(ArgsError::UnexpectedValue { name }),
                    };
                    args.switches.insert(name, on);
                }
            }
        }
        Ok(args)
    }

    /// Positional `i` (0-based), if given.
    pub fn positional(&self, i: usize) -> Option<&str> {
        self.positionals.get(i).map(String::as_str)
    }

    /// All positionals in order.
    pub fn positionals(&self) -> &[String] {
        &self.positionals
    }

    /// Required positional: error `ArgsError::Missing { what }` if absent.
    ///
    /// A positional that is empty or only whitespace (`""`) counts as absent.
    pub fn required(&self, i: usize, what: &'static str) -> Result<&str, ArgsError> {
        match self.positional(i) {
            Some(text) if !text.trim().is_empty() => Ok(text),
            _ => Err(ArgsError::Missing { what }),
        }
    }

    /// A value flag's value; `name` is normalised like the input (`api_key` finds `--API-KEY`).
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.values.get(&normalize(name)).map(String::as_str)
    }

    /// A switch: false when absent or given false/no.
    pub fn switch(&self, name: &str) -> bool {
        self.switches.get(&normalize(name)).copied().unwrap_or(false)
    }

    /// Value flag that must be present: error `ArgsError::MissingValue` naming it if absent.
    pub fn required_flag(&self, name: &'static str) -> Result<&str, ArgsError> {
        self.flag(name).ok_or_else(|| ArgsError::MissingValue { name: normalize(name) })
    }

    /// Value flag parsed as a number (`--day 3`); error names the flag and the bad text.
    ///
    /// Surrounding whitespace in the value is ignored.
    pub fn number_flag<T: std::str::FromStr>(&self, name: &'static str) -> Result<Option<T>, ArgsError> {
        match self.flag(name) {
            None => Ok(None),
            Some(text) => text
                .trim()
                .parse::<T>()
                .map(Some)
                .map_err(|_| ArgsError::NotANumber { name: normalize(name), text: text.to_string() }),
        }
    }

    /// No positionals beyond `n`: error `ArgsError::Extra` naming the first extra one.
    pub fn at_most(&self, n: usize) -> Result<(), ArgsError> {
        match self.positionals.get(n) {
            Some(text) => Err(ArgsError::Extra { text: text.clone() }),
            None => Ok(()),
        }
    }

    /// Everything from positional `i` on, joined by single spaces (for free text like a search).
    pub fn rest(&self, i: usize) -> Option<String> {
        let tail = self.positionals.get(i..)?;
        if tail.is_empty() { None } else { Some(tail.join(" ")) }
    }
}

/// Lowercases and turns `_` into `-`.
fn normalize(name: &str) -> String {
    name.chars().map(|c| if c == '_' { '-' } else { c }).collect::<String>().to_lowercase()
}

/// A token plus how much of its start was typed literally (not quoted, not escaped).
struct RawToken {
    text: String,
    quoted: bool,
    column: usize,
    /// Byte length of the leading part of `text` that came from unquoted, unescaped characters.
    plain: usize,
}

impl RawToken {
    fn new(column: usize) -> RawToken {
        RawToken { text: String::new(), quoted: false, column, plain: 0 }
    }

    fn push_plain(&mut self, c: char) {
        self.text.push(c);
        if !self.quoted {
            self.plain = self.text.len();
        }
    }

    fn push_quoted(&mut self, c: char) {
        self.quoted = true;
        self.text.push(c);
    }
}

fn is_double_quote(c: char) -> bool {
    matches!(c, '"' | '\u{201C}' | '\u{201D}')
}

fn is_single_quote(c: char) -> bool {
    matches!(c, '\'' | '\u{2018}' | '\u{2019}')
}

/// A single quote between two letters or digits (`Jum'at`, `don’t`) is an apostrophe, not a quote.
fn is_apostrophe(chars: &[char], i: usize) -> bool {
    i > 0
        && chars.get(i - 1).is_some_and(|c| c.is_alphanumeric())
        && chars.get(i + 1).is_some_and(|c| c.is_alphanumeric())
}

fn scan(input: &str) -> Result<Vec<RawToken>, ArgsError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let mut tok = RawToken::new(i + 1);
        while let Some(&c) = chars.get(i) {
            if c.is_whitespace() {
                break;
            }
            let open = i;
            i += 1;
            if c == '\\' {
                match chars.get(i) {
                    Some(&next) => {
                        tok.push_quoted(next);
                        i += 1;
                    }
                    None => tok.push_plain('\\'),
                }
            } else if is_double_quote(c) {
                tok.quoted = true;
                loop {
                    let Some(&q) = chars.get(i) else {
                        return Err(ArgsError::UnterminatedQuote { column: open + 1 });
                    };
                    i += 1;
                    if is_double_quote(q) {
                        break;
                    }
                    match (q, chars.get(i)) {
                        ('\\', Some(&next)) => {
                            tok.text.push(next);
                            i += 1;
                        }
                        _ => tok.text.push(q),
                    }
                }
            } else if is_single_quote(c) && !is_apostrophe(&chars, open) {
                tok.quoted = true;
                loop {
                    let Some(&q) = chars.get(i) else {
                        return Err(ArgsError::UnterminatedQuote { column: open + 1 });
                    };
                    if is_single_quote(q) && !is_apostrophe(&chars, i) {
                        i += 1;
                        break;
                    }
                    tok.text.push(q);
                    i += 1;
                }
            } else {
                tok.push_plain(c);
            }
        }
        tokens.push(tok);
    }
    Ok(tokens)
}

/// What a token means to the flag parser.
enum Shape<'a> {
    Positional,
    Terminator,
    Flag { name: &'a str, inline: Inline<'a> },
}

/// The `=value` part of a flag token.
enum Inline<'a> {
    /// No `=`.
    None,
    /// `--name=` with nothing after it.
    Bare,
    /// `--name=value` (possibly an explicit empty value, `--name=""`).
    Text(&'a str),
}

fn classify(tok: &RawToken) -> Shape<'_> {
    let plain = tok.text.get(..tok.plain).unwrap_or("");
    if plain == "--" && tok.text.len() == 2 {
        return Shape::Terminator;
    }
    let body = if let Some(body) = plain.strip_prefix("--") {
        body
    } else if let Some(body) = plain.strip_prefix(['\u{2014}', '\u{2013}'])
        && body.chars().next().is_some_and(char::is_alphabetic)
    {
        body
    } else {
        return Shape::Positional;
    };
    let start = plain.len() - body.len();
    match body.find('=') {
        Some(eq) => {
            let eq = start + eq;
            let name = &tok.text[start..eq];
            let value = &tok.text[eq + 1..];
            let inline = if value.is_empty() && !tok.quoted { Inline::Bare } else { Inline::Text(value) };
            Shape::Flag { name, inline }
        }
        // The whole name must be typed literally: `--"x"` or `--wh"ere"` is a positional.
        None if !tok.quoted => Shape::Flag { name: body, inline: Inline::None },
        None => Shape::Positional,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NURTURE: &[FlagSpec] = &[FlagSpec::value("day")];
    const AUTH: &[FlagSpec] = &[FlagSpec::value("platform"), FlagSpec::value("api-key"), FlagSpec::switch("oauth")];
    const SEGMENT: &[FlagSpec] = &[FlagSpec::value("where")];

    fn texts(input: &str) -> Vec<String> {
        tokenize(input).unwrap().into_iter().map(|t| t.text).collect()
    }

    fn err(input: &str, specs: &[FlagSpec]) -> ArgsError {
        Args::parse(input, specs).unwrap_err()
    }

    #[test]
    fn nurture_add_step_example() {
        let args = Args::parse(r#"add-step "New Lead Welcome" --day 3 "Halo kak, ada promo""#, NURTURE).unwrap();
        assert_eq!(args.positionals(), ["add-step", "New Lead Welcome", "Halo kak, ada promo"]);
        assert_eq!(args.flag("day"), Some("3"));
        assert_eq!(args.number_flag::<u32>("day"), Ok(Some(3)));
        assert_eq!(args.required(1, "sequence name"), Ok("New Lead Welcome"));
        assert_eq!(args.at_most(3), Ok(()));
    }

    #[test]
    fn auth_with_equals_and_api_key() {
        let args = Args::parse("--platform=hubspot --api-key pat-na1-xxx", AUTH).unwrap();
        assert_eq!(args.flag("platform"), Some("hubspot"));
        assert_eq!(args.required_flag("api-key"), Ok("pat-na1-xxx"));
        assert!(!args.switch("oauth"));
        assert!(args.positionals().is_empty());
    }

    #[test]
    fn auth_with_oauth_switch() {
        let args = Args::parse("--platform hubspot --oauth", AUTH).unwrap();
        assert_eq!(args.flag("platform"), Some("hubspot"));
        assert!(args.switch("oauth"));
        assert_eq!(args.flag("api-key"), None);
        assert_eq!(args.required_flag("api-key"), Err(ArgsError::MissingValue { name: "api-key".into() }));
    }

    #[test]
    fn segment_create_example() {
        let args = Args::parse(r#"create "Hot cafes" --where "lead_score > 75 and segment = Cafe""#, SEGMENT).unwrap();
        assert_eq!(args.positionals(), ["create", "Hot cafes"]);
        assert_eq!(args.flag("where"), Some("lead_score > 75 and segment = Cafe"));
    }

    #[test]
    fn curly_quotes_group_words() {
        let args = Args::parse("create “Hot cafes” --where “lead_score > 75”", SEGMENT).unwrap();
        assert_eq!(args.positionals(), ["create", "Hot cafes"]);
        assert_eq!(args.flag("where"), Some("lead_score > 75"));
        assert_eq!(texts("‘single curly’ ”reversed“ “mixed\""), ["single curly", "reversed", "mixed"]);
        assert_eq!(texts("'a b' ‘c d’"), ["a b", "c d"]);
    }

    #[test]
    fn apostrophes_between_letters_are_literal() {
        assert_eq!(texts("promo Jum'at don’t"), ["promo", "Jum'at", "don’t"]);
        assert_eq!(texts("'Jum'at berkah' x"), ["Jum'at berkah", "x"]);
        assert_eq!(texts("it's 'quoted words'"), ["it's", "quoted words"]);
    }

    #[test]
    fn flag_equals_with_quotes() {
        for input in [r#"--where="a b""#, "--where='a b'", "--where=“a b”", r"--where=a\ b"] {
            let args = Args::parse(input, SEGMENT).unwrap();
            assert_eq!(args.flag("where"), Some("a b"), "{input}");
            assert!(args.positionals().is_empty(), "{input}");
        }
        let args = Args::parse(r#"--where="x = 1""#, SEGMENT).unwrap();
        assert_eq!(args.flag("where"), Some("x = 1"));
        let args = Args::parse("--where=a=b", SEGMENT).unwrap();
        assert_eq!(args.flag("where"), Some("a=b"));
        let args = Args::parse(r#"--where="""#, SEGMENT).unwrap();
        assert_eq!(args.flag("where"), Some(""));
    }

    #[test]
    fn quoted_flag_is_positional() {
        let args = Args::parse(r#""--oauth" '--day' \--x --"where" --wh"ere""#, AUTH).unwrap();
        assert_eq!(args.positionals(), ["--oauth", "--day", "--x", "--where", "--where"]);
        assert!(!args.switch("oauth"));
        let toks = tokenize(r#""--oauth" --oauth"#).unwrap();
        assert!(toks[0].quoted);
        assert!(!toks[1].quoted);
    }

    #[test]
    fn double_dash_ends_flags() {
        let args = Args::parse("--day 3 -- --oauth x -- --day", NURTURE).unwrap();
        assert_eq!(args.number_flag::<u8>("day"), Ok(Some(3)));
        assert_eq!(args.positionals(), ["--oauth", "x", "--", "--day"]);
        // A quoted "--" is an ordinary positional and does not end flags.
        let args = Args::parse(r#""--" --day 4"#, NURTURE).unwrap();
        assert_eq!(args.positionals(), ["--"]);
        assert_eq!(args.flag("day"), Some("4"));
    }

    #[test]
    fn negative_numbers_are_positionals() {
        let args = Args::parse("adjust -5 -20 --day -3", NURTURE).unwrap();
        assert_eq!(args.positionals(), ["adjust", "-5", "-20"]);
        assert_eq!(args.number_flag::<i32>("day"), Ok(Some(-3)));
        assert_eq!(args.positional(1).and_then(|s| s.parse::<i64>().ok()), Some(-5));
        // A lone dash or single-dash word is a positional too (long flags only).
        let args = Args::parse("- -x", NURTURE).unwrap();
        assert_eq!(args.positionals(), ["-", "-x"]);
    }

    #[test]
    fn phone_dashes_count_as_double_dash() {
        let args = Args::parse("—platform hubspot –oauth — –5", AUTH).unwrap();
        assert_eq!(args.flag("platform"), Some("hubspot"));
        assert!(args.switch("oauth"));
        assert_eq!(args.positionals(), ["—", "–5"]);
    }

    #[test]
    fn unterminated_quote() {
        let e = err(r#"create "Hot cafes --where x"#, SEGMENT);
        assert_eq!(e, ArgsError::UnterminatedQuote { column: 8 });
        assert_eq!(e.to_string(), "unterminated quote starting at column 8");
        assert_eq!(tokenize("ab 'cd"), Err(ArgsError::UnterminatedQuote { column: 4 }));
        // Columns count chars, not bytes.
        assert_eq!(tokenize("é “x"), Err(ArgsError::UnterminatedQuote { column: 3 }));
        // An escaped closing quote does not close.
        assert_eq!(tokenize(r#"say "hi\""#), Err(ArgsError::UnterminatedQuote { column: 5 }));
    }

    #[test]
    fn unknown_flag() {
        let e = err("--platfrom hubspot", AUTH);
        assert_eq!(e, ArgsError::UnknownFlag { name: "platfrom".into() });
        assert_eq!(e.to_string(), "unknown option --platfrom");
        assert_eq!(err("x --Verbose", &[]), ArgsError::UnknownFlag { name: "verbose".into() });
    }

    #[test]
    fn missing_value() {
        let e = err("--platform --oauth", AUTH);
        assert_eq!(e, ArgsError::MissingValue { name: "platform".into() });
        assert_eq!(e.to_string(), "--platform needs a value");
        assert_eq!(err("--oauth --platform", AUTH), ArgsError::MissingValue { name: "platform".into() });
        assert_eq!(err("--api-key= pat-na1-xxx", AUTH), ArgsError::MissingValue { name: "api-key".into() });
        assert_eq!(err("--platform -- hubspot", AUTH), ArgsError::MissingValue { name: "platform".into() });
        // A quoted "--x" is a value, not a flag.
        let args = Args::parse(r#"--api-key "--oauth""#, AUTH).unwrap();
        assert_eq!(args.flag("api-key"), Some("--oauth"));
        assert!(!args.switch("oauth"));
    }

    #[test]
    fn switch_values() {
        let e = err("--oauth=please", AUTH);
        assert_eq!(e, ArgsError::UnexpectedValue { name: "oauth".into() });
        assert_eq!(e.to_string(), "--oauth takes no value");
        assert_eq!(err("--oauth=", AUTH), ArgsError::UnexpectedValue { name: "oauth".into() });
        for (input, on) in
            [("--oauth=yes", true), ("--oauth=TRUE", true), ("--oauth=no", false), ("--oauth=False", false)]
        {
            assert_eq!(Args::parse(input, AUTH).unwrap().switch("oauth"), on, "{input}");
        }
        // A switch never takes the next token.
        let args = Args::parse("--oauth yes", AUTH).unwrap();
        assert!(args.switch("oauth"));
        assert_eq!(args.positionals(), ["yes"]);
    }

    #[test]
    fn repeated_flag() {
        let e = err("--day 3 --day 4", NURTURE);
        assert_eq!(e, ArgsError::Repeated { name: "day".into() });
        assert_eq!(e.to_string(), "--day is given twice");
        assert_eq!(err("--api_key a --API-KEY b", AUTH), ArgsError::Repeated { name: "api-key".into() });
        assert_eq!(err("--oauth --oauth=no", AUTH), ArgsError::Repeated { name: "oauth".into() });
    }

    #[test]
    fn missing_positional() {
        let args = Args::parse("create --where x", SEGMENT).unwrap();
        let e = args.required(1, "segment name").unwrap_err();
        assert_eq!(e, ArgsError::Missing { what: "segment name" });
        assert_eq!(e.to_string(), "missing segment name");
        assert_eq!(args.required(0, "action"), Ok("create"));
        let args = Args::parse(r#"create """#, SEGMENT).unwrap();
        assert_eq!(args.positional(1), Some(""));
        assert_eq!(args.required(1, "segment name"), Err(ArgsError::Missing { what: "segment name" }));
    }

    #[test]
    fn extra_positional() {
        let args = Args::parse("--platform hubspot oops more", AUTH).unwrap();
        let e = args.at_most(0).unwrap_err();
        assert_eq!(e, ArgsError::Extra { text: "oops".into() });
        assert_eq!(e.to_string(), "unexpected \"oops\"");
        assert_eq!(args.at_most(1), Err(ArgsError::Extra { text: "more".into() }));
        assert_eq!(args.at_most(2), Ok(()));
    }

    #[test]
    fn not_a_number() {
        let args = Args::parse("--day tiga", NURTURE).unwrap();
        let e = args.number_flag::<u32>("day").unwrap_err();
        assert_eq!(e, ArgsError::NotANumber { name: "day".into(), text: "tiga".into() });
        assert_eq!(e.to_string(), "--day must be a number, not \"tiga\"");
        let args = Args::parse("--day -1", NURTURE).unwrap();
        assert_eq!(
            args.number_flag::<u32>("day"),
            Err(ArgsError::NotANumber { name: "day".into(), text: "-1".into() })
        );
        assert_eq!(args.number_flag::<i64>("day"), Ok(Some(-1)));
        let args = Args::parse(r#"--day " 7 ""#, NURTURE).unwrap();
        assert_eq!(args.number_flag::<u16>("day"), Ok(Some(7)));
        assert_eq!(Args::parse("", NURTURE).unwrap().number_flag::<u32>("day"), Ok(None));
    }

    #[test]
    fn rest_joins_with_single_spaces() {
        let args = Args::parse("search   kopi \"susu  gula\"   aren", &[]).unwrap();
        assert_eq!(args.rest(1), Some("kopi susu  gula aren".to_string()));
        assert_eq!(args.rest(0), Some("search kopi susu  gula aren".to_string()));
        assert_eq!(args.rest(3), Some("aren".to_string()));
        assert_eq!(args.rest(4), None);
        assert_eq!(args.rest(100), None);
        assert_eq!(Args::default().rest(0), None);
    }

    #[test]
    fn flag_names_are_normalised() {
        let args = Args::parse("--API_KEY pat-1 --Platform=HubSpot --OAuth", AUTH).unwrap();
        assert_eq!(args.flag("api-key"), Some("pat-1"));
        assert_eq!(args.flag("Api_Key"), Some("pat-1"));
        assert_eq!(args.flag("platform"), Some("HubSpot"), "values keep their case");
        assert!(args.switch("OAUTH"));
        let specs = [FlagSpec::value("Api_Key")];
        assert_eq!(Args::parse("--api-key x", &specs).unwrap().flag("api_key"), Some("x"));
    }

    #[test]
    fn tokenize_reports_columns_and_quoting() {
        let toks = tokenize("  ab \"c d\"é x='y z'").unwrap();
        assert_eq!(
            toks,
            [
                Token { text: "ab".into(), quoted: false, column: 3 },
                Token { text: "c dé".into(), quoted: true, column: 6 },
                Token { text: "x=y z".into(), quoted: true, column: 13 },
            ]
        );
        let toks = tokenize("é “ü x” z").unwrap();
        assert_eq!(toks.iter().map(|t| t.column).collect::<Vec<_>>(), [1, 3, 9]);
        assert_eq!(tokenize("").unwrap(), []);
        assert_eq!(tokenize(" \n\t\u{a0} ").unwrap(), []);
    }

    #[test]
    fn escapes() {
        assert_eq!(texts(r#"a\ b "say \"hi\"" 'C:\path' \'x"#), ["a b", "say \"hi\"", r"C:\path", "'x"]);
        assert_eq!(texts(r"abc\"), [r"abc\"]);
        assert_eq!(texts(r"\"), [r"\"]);
        assert_eq!(texts(r#""\\""#), [r"\"]);
        assert_eq!(texts("\\é"), ["é"]);
        let toks = tokenize(r"a\ b").unwrap();
        assert!(toks[0].quoted);
    }

    #[test]
    fn multiline_message_in_quotes() {
        let args = Args::parse("add-step Welcome --day 1 \"Halo kak,\nada promo\"", NURTURE).unwrap();
        assert_eq!(args.positional(2), Some("Halo kak,\nada promo"));
    }

    #[test]
    fn long_input_is_parsed() {
        let input = format!("create \"{}\" --where x {}", "a".repeat(5000), "w ".repeat(3000));
        assert!(input.chars().count() > 4096);
        let args = Args::parse(&input, SEGMENT).unwrap();
        assert_eq!(args.positional(1).map(str::len), Some(5000));
        assert_eq!(args.positionals().len(), 3002);
        assert_eq!(args.flag("where"), Some("x"));
    }

    /// Deterministic pseudo-random generator (64-bit LCG, Knuth's MMIX constants).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0 >> 33
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const FUZZ_CHARS: &[char] = &[
        'a', 'b', 'Z', '0', '5', ' ', ' ', '\t', '\n', '"', '\'', '“', '”', '‘', '’', '\\', '-', '-', '=', '_', 'é',
        'ü', '日', '😀', '—', '–', '\u{a0}', '\u{200b}',
    ];

    const FUZZ_FRAGMENTS: &[&str] =
        &[" --a ", " --z", " --A=", " --b_a ", " -- ", " -5 ", " —z", " --ab=no", " --x ", "=\"", " \\"];

    #[test]
    fn fuzz_never_panics() {
        let specs = [FlagSpec::value("a"), FlagSpec::value("b-a"), FlagSpec::switch("z"), FlagSpec::switch("ab")];
        let mut rng = Lcg(0x5eed);
        let mut parsed_ok = 0;
        let mut had_flag = 0;
        for _ in 0..5000 {
            let mut input = String::new();
            for _ in 0..rng.below(30) {
                // Mostly single chars, sometimes a whole flag-like fragment.
                if rng.below(5) == 0 {
                    input.push_str(FUZZ_FRAGMENTS[rng.below(FUZZ_FRAGMENTS.len())]);
                } else {
                    input.push(FUZZ_CHARS[rng.below(FUZZ_CHARS.len())]);
                }
            }
            let char_count = input.chars().count();
            if let Ok(tokens) = tokenize(&input) {
                let mut last = 0;
                for t in &tokens {
                    assert!(t.column > last && t.column <= char_count, "{input:?}: {tokens:?}");
                    last = t.column;
                    assert!(t.quoted || !t.text.is_empty(), "{input:?}: {tokens:?}");
                }
            }
            if let Ok(args) = Args::parse(&input, &specs) {
                parsed_ok += 1;
                if args.flag("a").is_some() || args.switch("z") {
                    had_flag += 1;
                }
                let _ = args.rest(0);
                let _ = args.rest(3);
                let _ = args.at_most(1);
                let _ = args.required(0, "x");
                let _ = args.number_flag::<i32>("a");
                let _ = args.required_flag("b_a");
                let _ = args.switch("AB");
            }
        }
        // The generator must actually exercise both successful parses and flags.
        assert!(parsed_ok > 500, "only {parsed_ok} inputs parsed");
        assert!(had_flag > 50, "only {had_flag} inputs had flags");
    }

    /// Quoting arbitrary strings and tokenising the result gives the strings back.
    #[test]
    fn fuzz_quote_round_trip() {
        let mut rng = Lcg(42);
        for _ in 0..3000 {
            let words: Vec<String> = (0..rng.below(5))
                .map(|_| (0..rng.below(8)).map(|_| FUZZ_CHARS[rng.below(FUZZ_CHARS.len())]).collect())
                .collect();
            let line = words
                .iter()
                .map(|w| {
                    let mut q = String::from("\"");
                    for c in w.chars() {
                        if c == '\\' || is_double_quote(c) {
                            q.push('\\');
                        }
                        q.push(c);
                    }
                    q.push('"');
                    q
                })
                .collect::<Vec<_>>()
                .join(" ");
            let got = texts(&line);
            assert_eq!(got, words, "{line:?}");
            assert_eq!(Args::parse(&line, &[]).unwrap().positionals(), words.as_slice(), "{line:?}");
        }
    }
}
