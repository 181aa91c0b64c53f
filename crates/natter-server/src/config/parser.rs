//! Block structure of the configuration syntax: top level, `{}` blocks, `[]` arrays,
//! `include`, and `$VARIABLE` references.
//!
//! Variables resolve as in nats-server: a key written earlier in the same block or in an
//! enclosing one (innermost first), then an environment variable, whose text is parsed as a
//! value (so it can hold a whole block). An included file is parsed on its own, relative to
//! the directory of the file that includes it, and its keys join the including block.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{ConfigError, ErrorKind, Location};
use super::lexer::{scan_key, scan_value, show, Cursor, Scanned};
use super::value::{Entry, Map, Node, Value};

/// Includes deeper than this are taken for a cycle.
const MAX_INCLUDE_DEPTH: usize = 16;
/// Environment variables that refer to environment variables, deeper than this, too.
const MAX_ENV_DEPTH: usize = 16;

/// Where environment variables come from (the process environment, or a table in tests).
pub(crate) type EnvLookup<'e> = &'e dyn Fn(&str) -> Option<String>;

pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Shared state of one parse, across includes and environment variables.
struct Context<'e> {
    env: EnvLookup<'e>,
    include_depth: usize,
    /// Environment variables being expanded, to refuse `A='$A'`.
    env_stack: Vec<String>,
}

/// Parses configuration text. `origin` names it in messages; includes resolve against
/// `base_dir`.
pub(crate) fn parse_text(
    text: &str,
    origin: &str,
    base_dir: &Path,
    env: EnvLookup<'_>,
) -> Result<Map, ConfigError> {
    let mut ctx = Context {
        env,
        include_depth: 0,
        env_stack: Vec::new(),
    };
    parse_document(text, Arc::from(origin), base_dir, &mut ctx)
}

/// Reads and parses a file; includes resolve against its directory.
pub(crate) fn parse_path(path: &Path, env: EnvLookup<'_>) -> Result<Map, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            ErrorKind::Io,
            None,
            format!("cannot read configuration file {}: {e}", path.display()),
        )
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut ctx = Context {
        env,
        include_depth: 0,
        env_stack: Vec::new(),
    };
    parse_document(
        &text,
        Arc::from(path.display().to_string()),
        &base,
        &mut ctx,
    )
}

fn parse_document(
    text: &str,
    origin: Arc<str>,
    base_dir: &Path,
    ctx: &mut Context<'_>,
) -> Result<Map, ConfigError> {
    let mut p = Parser {
        cur: Cursor::new(text, origin),
        scopes: vec![Map::new()],
        base_dir: base_dir.to_path_buf(),
        ctx,
    };
    p.parse_top()?;
    Ok(p.scopes.pop().unwrap_or_default())
}

struct Parser<'a, 'c, 'e> {
    cur: Cursor<'a>,
    /// The blocks being built, outermost first: where variables are looked up.
    scopes: Vec<Map>,
    base_dir: PathBuf,
    ctx: &'c mut Context<'e>,
}

impl Parser<'_, '_, '_> {
    fn parse_top(&mut self) -> Result<(), ConfigError> {
        loop {
            self.cur.skip_space_and_comments();
            match self.cur.peek() {
                None => return Ok(()),
                // nats-server lets a whole file sit inside one pair of braces.
                Some('{' | '}') => {
                    self.cur.bump();
                }
                Some(_) => {
                    self.parse_entry()?;
                    self.end_of_top_value()?;
                }
            }
        }
    }

    /// After a top-level value: blanks, maybe a comment, then a new line, `;`, `,`, `}` or EOF.
    fn end_of_top_value(&mut self) -> Result<(), ConfigError> {
        self.cur.skip_blanks();
        if self.cur.at_comment() {
            self.cur.skip_comment();
        }
        match self.cur.peek() {
            None | Some('\n' | '\r' | '}') => Ok(()),
            Some(';' | ',') => {
                self.cur.bump();
                Ok(())
            }
            c => Err(self.cur.error(format!(
                "expected a new line, ';' or a comment after a value, found {}",
                show(c)
            ))),
        }
    }

    /// One `key value`, or an `include`, added to the innermost block.
    fn parse_entry(&mut self) -> Result<(), ConfigError> {
        let key = scan_key(&mut self.cur)?;
        if !key.quoted
            && key.name.eq_ignore_ascii_case("include")
            && matches!(self.cur.peek(), Some(' ' | '\t'))
        {
            return self.parse_include(&key.location);
        }
        if key.name.is_empty() {
            return Err(ConfigError::at(
                ErrorKind::Syntax,
                &key.location,
                "expected a key",
            ));
        }
        // nats-server allows new lines between a key and its separator, not after it.
        self.cur.skip_space();
        if matches!(self.cur.peek(), Some(':' | '=')) {
            self.cur.bump();
        }
        self.cur.skip_blanks();
        match self.cur.peek() {
            None | Some('}' | ']' | ',' | ';' | '\n' | '\r') => {
                return Err(self.cur.error(format!(
                    "expected a value for '{}', found {}",
                    key.name,
                    show(self.cur.peek())
                )))
            }
            _ => {}
        }
        let value = self.parse_value()?;
        self.scopes
            .last_mut()
            .expect("the top-level scope is never popped while parsing")
            .insert(Entry {
                key: key.name,
                key_location: key.location,
                value,
                used_as_variable: false,
            });
        Ok(())
    }

    fn parse_value(&mut self) -> Result<Node, ConfigError> {
        let location = self.cur.location();
        match scan_value(&mut self.cur)? {
            Scanned::Scalar(value, literal) => Ok(Node {
                value,
                location,
                literal,
            }),
            Scanned::Variable(name) => {
                let mut node = self.resolve_variable(&name, &location)?;
                node.location = location;
                Ok(node)
            }
            Scanned::ArrayStart => self.parse_array(location),
            Scanned::MapStart => self.parse_map(location),
        }
    }

    fn parse_array(&mut self, open: Location) -> Result<Node, ConfigError> {
        let mut items = Vec::new();
        loop {
            self.cur.skip_space_and_comments();
            match self.cur.peek() {
                None => return Err(unclosed(&open, '[', ']')),
                Some(']') => {
                    self.cur.bump();
                    break;
                }
                Some(',') => {
                    return Err(self
                        .cur
                        .error("unexpected ',' in array: no value before it"))
                }
                Some(_) => items.push(self.parse_value()?),
            }
            self.cur.skip_blanks();
            if self.cur.at_comment() {
                self.cur.skip_comment();
            }
            match self.cur.peek() {
                None => return Err(unclosed(&open, '[', ']')),
                Some(']') => {
                    self.cur.bump();
                    break;
                }
                Some(',' | '\n' | '\r') => {
                    self.cur.bump();
                }
                c => {
                    return Err(self.cur.error(format!(
                        "expected ',' or ']' after an array value, found {}",
                        show(c)
                    )))
                }
            }
        }
        Ok(Node {
            value: Value::Array(items),
            location: open,
            literal: None,
        })
    }

    fn parse_map(&mut self, open: Location) -> Result<Node, ConfigError> {
        self.scopes.push(Map::new());
        let result = self.parse_map_body(&open);
        let map = self.scopes.pop().unwrap_or_default();
        result?;
        Ok(Node {
            value: Value::Map(map),
            location: open,
            literal: None,
        })
    }

    fn parse_map_body(&mut self, open: &Location) -> Result<(), ConfigError> {
        loop {
            self.cur.skip_space_and_comments();
            match self.cur.peek() {
                None => return Err(unclosed(open, '{', '}')),
                Some('}') => {
                    self.cur.bump();
                    return Ok(());
                }
                Some(c @ (',' | ']' | ':' | '=')) => {
                    return Err(self.cur.error(format!("expected a key, found '{c}'")))
                }
                Some(_) => self.parse_entry()?,
            }
            self.cur.skip_blanks();
            if self.cur.at_comment() {
                self.cur.skip_comment();
            }
            match self.cur.peek() {
                None => return Err(unclosed(open, '{', '}')),
                Some('}') => {
                    self.cur.bump();
                    return Ok(());
                }
                Some(',' | ';' | '\n' | '\r') => {
                    self.cur.bump();
                }
                c => {
                    return Err(self.cur.error(format!(
                        "expected ',', a new line or '}}' after a value, found {}",
                        show(c)
                    )))
                }
            }
        }
    }

    fn parse_include(&mut self, at: &Location) -> Result<(), ConfigError> {
        self.cur.skip_blanks();
        let target = match self.cur.peek() {
            Some(q @ ('"' | '\'')) => {
                self.cur.bump();
                let mut s = String::new();
                loop {
                    match self.cur.bump() {
                        Some(c) if c == q => break,
                        Some(c) => s.push(c),
                        None => return Err(self.cur.error("unterminated include path")),
                    }
                }
                s
            }
            Some('[' | '{' | '(' | '\\') | None | Some('\n' | '\r') => {
                return Err(self.cur.error(format!(
                    "expected a file name after 'include', found {}",
                    show(self.cur.peek())
                )))
            }
            Some(_) => {
                let mut s = String::new();
                while let Some(c) = self.cur.peek() {
                    if c.is_whitespace() || c == ';' || c == '}' {
                        break;
                    }
                    s.push(c);
                    self.cur.bump();
                }
                s
            }
        };
        if target.is_empty() {
            return Err(ConfigError::at(
                ErrorKind::Syntax,
                at,
                "include needs a file name",
            ));
        }
        if self.ctx.include_depth >= MAX_INCLUDE_DEPTH {
            return Err(ConfigError::at(
                ErrorKind::Syntax,
                at,
                format!("includes nested more than {MAX_INCLUDE_DEPTH} deep (an include cycle?)"),
            ));
        }
        let path = self.base_dir.join(&target);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError::at(
                ErrorKind::Io,
                at,
                format!("cannot read include file {}: {e}", path.display()),
            )
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.ctx.include_depth += 1;
        let included = parse_document(
            &text,
            Arc::from(path.display().to_string()),
            &base,
            self.ctx,
        );
        self.ctx.include_depth -= 1;
        let scope = self
            .scopes
            .last_mut()
            .expect("the top-level scope is never popped while parsing");
        for entry in included?.entries() {
            scope.insert(entry.clone());
        }
        Ok(())
    }

    fn resolve_variable(&mut self, name: &str, at: &Location) -> Result<Node, ConfigError> {
        for scope in self.scopes.iter_mut().rev() {
            if let Some(entry) = scope.get_mut(name) {
                entry.used_as_variable = true;
                return Ok(entry.value.clone());
            }
        }
        let Some(text) = (self.ctx.env)(name) else {
            return Err(ConfigError::at(
                ErrorKind::Syntax,
                at,
                format!(
                    "variable reference for '{name}' can not be found: no key '{name}' earlier \
                     in this block or an enclosing one, and no such environment variable"
                ),
            ));
        };
        if self.ctx.env_stack.iter().any(|n| n == name) || self.ctx.env_stack.len() >= MAX_ENV_DEPTH
        {
            return Err(ConfigError::at(
                ErrorKind::Syntax,
                at,
                format!("environment variable ${name} refers to itself"),
            ));
        }
        // The environment value is parsed as a value, so it may be a number, a block...
        self.ctx.env_stack.push(name.to_string());
        let parsed = parse_document(
            &format!("pk={text}"),
            Arc::from(format!("environment variable ${name}")),
            &self.base_dir,
            self.ctx,
        );
        self.ctx.env_stack.pop();
        let map = parsed?;
        match map.get("pk") {
            Some(entry) if map.len() == 1 => Ok(entry.value.clone()),
            _ => Err(ConfigError::at(
                ErrorKind::Syntax,
                at,
                format!("environment variable ${name} does not hold a single value"),
            )),
        }
    }
}

fn unclosed(open: &Location, what: char, close: char) -> ConfigError {
    ConfigError::at(
        ErrorKind::Syntax,
        open,
        format!("expected '{close}' to close this '{what}' before the end of the file"),
    )
}
