//! Exec grants: commands are argument vectors, never shell text.
//!
//! imaplib's `IMAP4_stream` runs its command with `subprocess.Popen(...,
//! shell=True)`. wasimap deliberately does not: a plugin's command string
//! is split into words by POSIX shell quoting rules, every character a
//! shell would act on outside quotes is refused, and the words become the
//! program and its arguments directly. So a grant names a program and
//! whole arguments, and no string a plugin sends is ever interpreted.

use super::glob::Glob;

/// Longest command line, in bytes.
pub const MAX_COMMAND_BYTES: usize = 8 * 1024;
/// Most words (program and arguments) in a command.
pub const MAX_ARGS: usize = 256;

const WITHOUT_SHELL: &str = "wasimap runs commands without a shell";

/// What a shell would do with `c` outside quotes, if anything.
fn shell_meaning(c: char) -> Option<&'static str> {
    Some(match c {
        ';' | '&' | '|' | '(' | ')' | '!' => "a shell operator",
        '<' | '>' => "a redirection",
        '$' => "a substitution",
        '`' => "a command substitution",
        '*' | '?' | '[' | ']' => "a glob",
        '{' | '}' => "a brace expansion",
        '~' => "a tilde expansion",
        '#' => "a comment",
        _ => return None,
    })
}

fn control(c: char) -> String {
    let name = match c {
        '\n' => "a newline".to_string(),
        '\r' => "a carriage return".to_string(),
        '\t' => "a tab".to_string(),
        '\0' => "a NUL".to_string(),
        c => "a control character".to_string() + &format!(" (U+{:04X})", u32::from(c)),
    };
    format!("{name} is not allowed; {WITHOUT_SHELL}")
}

fn meta(c: char, meaning: &str) -> String {
    format!("'{c}' ({meaning}) is not allowed; {WITHOUT_SHELL}")
}

/// One word as parsed: its text with unquoted `*`s as wildcards (in grant
/// patterns only), and whether it was exactly an unquoted `**`.
#[derive(Debug, Default)]
struct Word {
    glob: Glob,
    unquoted_stars: usize,
    other: bool,
}

impl Word {
    fn push(&mut self, c: char) {
        self.other = true;
        let mut buf = [0; 4];
        self.glob.push_str(c.encode_utf8(&mut buf));
    }

    fn is_rest(&self) -> bool {
        self.unquoted_stars == 2 && !self.other
    }
}

/// Splits `s` into words by POSIX shell quoting: `'...'` is literal,
/// `"..."` is literal except that `\` escapes `$`, `` ` ``, `"` and `\`,
/// and outside quotes `\` makes the next character literal. Words are
/// separated by spaces. Refused: control characters anywhere; outside
/// quotes every shell operator, substitution, redirection and glob
/// character (in a grant, `*` is a wildcard instead); `$` and `` ` ``
/// inside double quotes.
fn words(s: &str, pattern: bool) -> Result<Vec<Word>, String> {
    if s.len() > MAX_COMMAND_BYTES {
        return Err(format!(
            "{} bytes is longer than the limit of {MAX_COMMAND_BYTES}",
            s.len()
        ));
    }
    let mut out: Vec<Word> = Vec::new();
    let mut cur: Option<Word> = None;
    let mut chars = s.chars();
    let literal = |c: Option<char>, what: &str| -> Result<char, String> {
        match c {
            None => Err(format!("{what} is not closed")),
            Some(c) if c.is_control() => Err(control(c)),
            Some(c) => Ok(c),
        }
    };
    while let Some(c) = chars.next() {
        if c.is_control() {
            return Err(control(c));
        }
        match c {
            ' ' => {
                if let Some(w) = cur.take() {
                    out.push(w);
                }
            }
            '\'' => {
                let w = cur.get_or_insert_with(Word::default);
                w.other = true;
                loop {
                    match literal(chars.next(), "a single quote")? {
                        '\'' => break,
                        c => w.push(c),
                    }
                }
            }
            '"' => {
                let w = cur.get_or_insert_with(Word::default);
                w.other = true;
                loop {
                    match literal(chars.next(), "a double quote")? {
                        '"' => break,
                        '\\' => match literal(chars.next(), "a double quote")? {
                            c @ ('$' | '`' | '"' | '\\') => w.push(c),
                            c => {
                                w.push('\\');
                                w.push(c);
                            }
                        },
                        c @ ('$' | '`') => {
                            let meaning = shell_meaning(c).unwrap_or_default();
                            return Err(format!(
                                "'{c}' inside double quotes ({meaning}) is not allowed; {WITHOUT_SHELL}"
                            ));
                        }
                        c => w.push(c),
                    }
                }
            }
            '\\' => match chars.next() {
                None => return Err("a backslash at the end is not allowed".into()),
                Some(c) if c.is_control() => return Err(control(c)),
                Some(c) => cur.get_or_insert_with(Word::default).push(c),
            },
            '*' if pattern => {
                let w = cur.get_or_insert_with(Word::default);
                w.unquoted_stars += 1;
                w.glob.push_star();
            }
            c => {
                if let Some(meaning) = shell_meaning(c) {
                    return Err(meta(c, meaning));
                }
                cur.get_or_insert_with(Word::default).push(c);
            }
        }
        if out.len() + usize::from(cur.is_some()) > MAX_ARGS {
            return Err(format!("more than {MAX_ARGS} words"));
        }
    }
    out.extend(cur);
    if out.is_empty() {
        return Err("the command is empty".into());
    }
    Ok(out)
}

/// Whether `program` is an absolute path without `.` or `..` components
/// (so a wildcard in a grant cannot be stretched out of its directory).
fn check_program(program: &str) -> Result<(), String> {
    if !program.starts_with('/') {
        return Err(format!(
            "the program {program:?} is not an absolute path (wasimap does not search PATH)"
        ));
    }
    if program.split('/').any(|c| c == "." || c == "..") {
        return Err(format!("the program {program:?} has a . or .. component"));
    }
    Ok(())
}

/// Splits a requested command into its argument vector, or says why it is
/// refused (`command refused: ';' (a shell operator) is not allowed; ...`).
///
/// # Errors
/// A message naming the offending character or rule.
pub fn split_command(command: &str) -> Result<Vec<String>, String> {
    let refused = |e: String| format!("command refused: {e}");
    let argv: Vec<String> = words(command, false)
        .map_err(refused)?
        .into_iter()
        .map(|w| w.glob.literal().unwrap_or_default())
        .collect();
    check_program(&argv[0]).map_err(refused)?;
    Ok(argv)
}

/// `word` written so that [`split_command`] gives it back, and so that as
/// a grant word it matches only itself.
pub fn quote_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._,:=+@%^-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The grant that admits exactly `argv`.
pub fn grant_for(argv: &[String]) -> String {
    argv.iter().map(|w| quote_word(w)).collect::<Vec<_>>().join(" ")
}

/// A parsed `--allow-exec` grant: one pattern per argument, `*` matching
/// within that argument, and optionally a final `**` for any number of
/// further arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecPattern {
    words: Vec<Glob>,
    rest: bool,
    source: String,
}

impl ExecPattern {
    /// Parses a grant.
    ///
    /// # Errors
    /// When the grant holds shell syntax, `**` anywhere but as the last
    /// word, or a program that is not an absolute path.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let invalid = |e: String| format!("invalid exec grant {pattern:?}: {e}");
        let mut parsed = words(pattern, true).map_err(invalid)?;
        let rest = parsed.last().is_some_and(Word::is_rest);
        if rest {
            parsed.pop();
        }
        if parsed.iter().any(Word::is_rest) {
            return Err(invalid("'**' may only be the last word".into()));
        }
        let Some(program) = parsed.first() else {
            return Err(invalid("it names no program".into()));
        };
        match program.glob.literal() {
            Some(p) => check_program(&p).map_err(invalid)?,
            None if program.glob.tokens().first() == Some(&super::glob::Tok::Lit(b'/')) => {}
            None => return Err(invalid("the program must be an absolute path".into())),
        }
        Ok(ExecPattern {
            words: parsed.into_iter().map(|w| w.glob).collect(),
            rest,
            source: pattern.to_string(),
        })
    }

    /// Whether the argument vector `argv` is granted.
    pub fn matches(&self, argv: &[String]) -> bool {
        let count_ok = if self.rest {
            argv.len() >= self.words.len()
        } else {
            argv.len() == self.words.len()
        };
        count_ok && self.words.iter().zip(argv).all(|(p, a)| p.matches(a))
    }

    /// The grant as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        split_command(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn refused(s: &str) -> String {
        split_command(s).expect_err(s)
    }

    fn grant(p: &str, cmd: &str) -> bool {
        ExecPattern::parse(p).unwrap().matches(&argv(cmd))
    }

    #[test]
    fn words_follow_posix_quoting() {
        assert_eq!(argv("/bin/echo a  b"), ["/bin/echo", "a", "b"]);
        assert_eq!(argv("  /bin/echo   a "), ["/bin/echo", "a"]);
        assert_eq!(argv("/bin/echo 'a b' \"c d\""), ["/bin/echo", "a b", "c d"]);
        assert_eq!(argv("/bin/echo '' \"\""), ["/bin/echo", "", ""]);
        assert_eq!(argv("/bin/echo a'b'\"c\"d"), ["/bin/echo", "abcd"]);
        assert_eq!(argv(r"/bin/echo a\ b \; \\"), ["/bin/echo", "a b", ";", "\\"]);
        assert_eq!(argv(r#"/bin/echo "\$ \` \" \\ \a""#), ["/bin/echo", r#"$ ` " \ \a"#]);
        assert_eq!(argv(r"/bin/echo 'a\b'"), ["/bin/echo", r"a\b"]);
        assert_eq!(argv(r#"/bin/echo 'it'\''s'"#), ["/bin/echo", "it's"]);
        // Quoted metacharacters are plain arguments.
        assert_eq!(
            argv("/bin/echo '; & | < > ( ) $ ` * ? [ ] { } ~ # !' \"; | *\""),
            ["/bin/echo", "; & | < > ( ) $ ` * ? [ ] { } ~ # !", "; | *"]
        );
        assert_eq!(argv("/bin/echo é"), ["/bin/echo", "é"]);
    }

    #[test]
    fn every_shell_metacharacter_is_refused_by_name() {
        for c in [
            ';', '&', '|', '<', '>', '(', ')', '$', '`', '*', '?', '[', ']', '{', '}', '~', '#', '!',
        ] {
            let err = refused(&format!("/bin/echo a{c}b"));
            assert!(err.starts_with(&format!("command refused: '{c}' (")), "{c}: {err}");
            assert!(
                err.ends_with("is not allowed; wasimap runs commands without a shell"),
                "{err}"
            );
        }
        assert_eq!(
            refused("/usr/lib/dovecot/imap x; touch /tmp/pwned"),
            "command refused: ';' (a shell operator) is not allowed; wasimap runs commands without a shell"
        );
        assert!(refused("/bin/echo $(id)").contains("'$' (a substitution)"));
        assert!(refused("/bin/echo `id`").contains("'`' (a command substitution)"));
        assert!(refused("/bin/echo > /tmp/f").contains("'>' (a redirection)"));
        assert!(refused("/bin/echo *").contains("'*' (a glob)"));
    }

    #[test]
    fn control_characters_are_refused_even_quoted() {
        for (s, what) in [
            ("/bin/echo a\nb", "a newline"),
            ("/bin/echo 'a\nb'", "a newline"),
            ("/bin/echo \"a\nb\"", "a newline"),
            ("/bin/echo a\\\nb", "a newline"),
            ("/bin/echo\ta", "a tab"),
            ("/bin/echo 'a\0'", "a NUL"),
            ("/bin/echo a\rb", "a carriage return"),
            ("/bin/echo \u{1b}[0m", "a control character (U+001B)"),
            ("/bin/echo '\u{7f}'", "a control character (U+007F)"),
            ("/bin/echo \u{85}", "a control character (U+0085)"),
        ] {
            let err = refused(s);
            assert_eq!(
                err,
                format!("command refused: {what} is not allowed; wasimap runs commands without a shell"),
                "{s:?}"
            );
        }
    }

    #[test]
    fn substitutions_inside_double_quotes_are_refused() {
        assert!(refused("/bin/echo \"$(id)\"").contains("'$' inside double quotes"));
        assert!(refused("/bin/echo \"$HOME\"").contains("'$' inside double quotes"));
        assert!(refused("/bin/echo \"`id`\"").contains("'`' inside double quotes"));
        assert_eq!(argv("/bin/echo '$HOME'"), ["/bin/echo", "$HOME"]);
        assert_eq!(argv(r#"/bin/echo "\$HOME""#), ["/bin/echo", "$HOME"]);
    }

    #[test]
    fn malformed_commands_and_programs() {
        assert_eq!(refused(""), "command refused: the command is empty");
        assert_eq!(refused("   "), "command refused: the command is empty");
        assert!(refused("/bin/echo 'a").contains("a single quote is not closed"));
        assert!(refused("/bin/echo \"a").contains("a double quote is not closed"));
        assert!(refused("/bin/echo a\\").contains("a backslash at the end"));
        assert!(refused("echo hi").contains("is not an absolute path"));
        assert!(refused("./imap").contains("is not an absolute path"));
        assert!(refused("'' hi").contains("is not an absolute path"));
        assert!(refused("/usr/lib/dovecot/../../../bin/sh").contains(".. component"));
        assert!(refused("/usr/./bin/sh").contains(". or .. component"));
        assert!(refused(&format!("/bin/echo {}", "a".repeat(MAX_COMMAND_BYTES))).contains("longer than the limit"));
        let many = format!("/bin/echo{}", " a".repeat(MAX_ARGS));
        assert!(refused(&many).contains("more than 256 words"));
        let just = format!("/bin/echo{}", " a".repeat(MAX_ARGS - 1));
        assert_eq!(argv(&just).len(), MAX_ARGS);
    }

    #[test]
    fn grant_words_match_whole_arguments() {
        let imap = "/usr/lib/dovecot/imap";
        assert!(grant("/usr/lib/dovecot/imap", imap));
        assert!(!grant("/usr/lib/dovecot/imap", "/usr/lib/dovecot/imap -u x"));
        // One `*` word is one argument.
        assert!(grant("/usr/lib/dovecot/imap *", "/usr/lib/dovecot/imap x"));
        assert!(!grant("/usr/lib/dovecot/imap *", "/usr/lib/dovecot/imap -u x"));
        assert!(!grant("/usr/lib/dovecot/imap *", imap));
        // `*` within a word never crosses into the next argument.
        assert!(grant(
            "/usr/lib/dovecot/imap -u user-*",
            "/usr/lib/dovecot/imap -u user-1"
        ));
        assert!(!grant("/usr/lib/dovecot/imap -u*", "/usr/lib/dovecot/imap -u x"));
        assert!(grant("/usr/lib/dovecot/imap -u*", "/usr/lib/dovecot/imap -ux"));
        assert!(grant("/usr/lib/dovecot/imap -u *", "/usr/lib/dovecot/imap -u 'a b; c'"));
        // A final `**` takes zero or more arguments.
        let any = "/usr/lib/dovecot/imap **";
        assert!(grant(any, imap));
        assert!(grant(any, "/usr/lib/dovecot/imap -c c -u x"));
        assert!(grant(any, "/usr/lib/dovecot/imap 'x; touch /tmp/pwned'"));
        assert!(!grant(any, "/usr/lib/dovecot/imapx"));
        assert!(!grant(any, "/bin/sh -c x"));
        assert!(grant(
            "/usr/lib/dovecot/imap -c * **",
            "/usr/lib/dovecot/imap -c c -u x"
        ));
        assert!(!grant("/usr/lib/dovecot/imap -c * **", "/usr/lib/dovecot/imap -u x"));
        // Quoted in a grant, `*` and `**` are literal.
        assert!(grant("/bin/echo '*'", "/bin/echo '*'"));
        assert!(!grant("/bin/echo '*'", "/bin/echo x"));
        assert!(grant("/bin/echo \\*\\*", "/bin/echo '**'"));
        assert!(!grant("/bin/echo '**'", "/bin/echo a b"));
        // Wildcards in the program stay within one argument.
        assert!(grant("/usr/bin/* --version", "/usr/bin/env --version"));
        assert!(!grant("/usr/bin/* --version", "/usr/bin/env"));
        // A granted shell line is one argument, matched exactly.
        let sh = "/bin/sh -c 'sleep 5 & exec /bin/cat'";
        assert!(grant(sh, sh));
        assert!(!grant(sh, "/bin/sh -c 'sleep 5 & exec /bin/cat; id'"));
    }

    #[test]
    fn invalid_grants_say_why() {
        for (p, why) in [
            ("imap *", "not an absolute path"),
            ("* **", "must be an absolute path"),
            ("**", "names no program"),
            ("/bin/echo ** x", "'**' may only be the last word"),
            ("/bin/echo ?", "'?' (a glob)"),
            ("/bin/echo a;b", "';' (a shell operator)"),
            ("/bin/../bin/sh", ".. component"),
            ("/bin/echo 'x", "not closed"),
        ] {
            let err = ExecPattern::parse(p).expect_err(p);
            assert!(err.starts_with("invalid exec grant"), "{err}");
            assert!(err.contains(why), "{p}: {err}");
        }
    }

    #[test]
    fn suggested_grants_admit_exactly_the_request() {
        for cmd in [
            "/bin/echo hi",
            "/bin/echo 'a b' '*' '**' \"it's\" '' é",
            r"/bin/echo '\' '$x'",
        ] {
            let a = argv(cmd);
            let g = grant_for(&a);
            let p = ExecPattern::parse(&g).unwrap();
            assert!(p.matches(&a), "{g}");
            assert_eq!(argv(&g), a);
        }
        assert_eq!(grant_for(&argv("/bin/echo hi")), "/bin/echo hi");
        assert_eq!(grant_for(&argv("/bin/echo '*'")), "/bin/echo '*'");
        assert!(!ExecPattern::parse(&grant_for(&argv("/bin/echo '*'")))
            .unwrap()
            .matches(&argv("/bin/echo x")));
    }

    #[test]
    fn pathological_grants_are_fast() {
        let p = ExecPattern::parse(&format!("/bin/echo {}b", "*a".repeat(1000))).unwrap();
        let arg = "a".repeat(MAX_COMMAND_BYTES - 20);
        assert!(!p.matches(&["/bin/echo".to_string(), arg.clone()]));
        assert!(p.matches(&["/bin/echo".to_string(), arg + "b"]));
    }
}
