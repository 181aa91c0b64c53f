//! Block structure of the configuration syntax: top level, `{}` blocks, `[]` arrays,
//! `include`, and `$VARIABLE` references.
//!
//! Variables resolve as in nats-server: a key written earlier in the same block or in an
//! enclosing one (innermost first), then an environment variable, whose text is parsed as a
//! value (so it can hold a whole block). An included file is parsed on its own, relative to
//! the directory of the file that includes it, and its keys join the including block.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{ConfigError, ErrorKind, Location};
use super::lexer::{scan_key, scan_value, show, Cursor, Key, Scanned};
use super::value::{Entry, Map, Node, Value};

/// Includes deeper than this are taken for a cycle.
const MAX_INCLUDE_DEPTH: usize = 16;
/// Environment variables that refer to environment variables, deeper than this, too.
const MAX_ENV_DEPTH: usize = 16;

/// Most levels of recursion one parse may reach: open blocks and arrays, plus one per
/// include and per environment variable being expanded (each recurses through the parser
/// the same way). Real configurations nest a handful of levels.
pub(crate) const MAX_DEPTH: usize = 128;

/// Stack of the thread a parse runs on. The caller's stack may be small (a reload parses
/// from a runtime worker, 2 MiB) and a level costs a few KiB in a debug build, so a parse
/// does not use it; [`MAX_DEPTH`] levels fit here with a wide margin in any build. The
/// memory is only reserved, not used, until the parse needs it.
const PARSE_STACK: usize = 8 << 20;

/// How many bytes variable references and includes may add to a parse, all told.
/// nats-server shares a referenced value, Natter copies it: without a bound, a few lines of
/// `$variable`s that each reference the previous one ten times expand exponentially.
pub(crate) const EXPANSION_BUDGET: usize = 64 << 20;

/// What an include costs against [`EXPANSION_BUDGET`] besides its text, so that a fan-out of
/// (nearly) empty includes is bounded too.
const INCLUDE_COST: usize = 4096;

/// Where environment variables come from (the process environment, or a table in tests).
pub(crate) type EnvLookup<'e> = &'e (dyn Fn(&str) -> Option<String> + Sync);

pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Shared state of one parse, across includes and environment variables.
struct Context<'e> {
    env: EnvLookup<'e>,
    include_depth: usize,
    /// Environment variables being expanded, to refuse `A='$A'`.
    env_stack: Vec<String>,
    /// Current recursion level, against [`MAX_DEPTH`].
    depth: usize,
    /// What variable copies and includes have added so far, against [`EXPANSION_BUDGET`].
    expanded: usize,
    /// Environment variables already parsed: each is parsed once however often it is used.
    env_values: HashMap<String, Node>,
}

impl<'e> Context<'e> {
    fn new(env: EnvLookup<'e>) -> Self {
        Context {
            env,
            include_depth: 0,
            env_stack: Vec::new(),
            depth: 0,
            expanded: 0,
            env_values: HashMap::new(),
        }
    }

    /// Enters one level of recursion, or refuses to.
    fn enter(&mut self, at: &Location, what: &str) -> Result<(), ConfigError> {
        if self.depth >= MAX_DEPTH {
            return Err(too_deep(at, what));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Counts `bytes` more against the expansion budget.
    fn charge(&mut self, bytes: usize, at: &Location, what: &str) -> Result<(), ConfigError> {
        self.expanded = self.expanded.saturating_add(bytes);
        if self.expanded > EXPANSION_BUDGET {
            return Err(ConfigError::at(
                ErrorKind::Limit,
                at,
                format!(
                    "{what} would make the configuration larger than {} MiB once variables and \
                     includes are expanded (variables that reference variables many times over?)",
                    EXPANSION_BUDGET >> 20
                ),
            ));
        }
        Ok(())
    }

    /// Checks that a copy of `node` fits at the current depth and in the budget; the copy
    /// is only made after this, so a refused one costs no more than walking the budget.
    fn charge_copy(&mut self, node: &Node, at: &Location, what: &str) -> Result<(), ConfigError> {
        let mut m = Measure {
            bytes: 0,
            limit: EXPANSION_BUDGET.saturating_sub(self.expanded),
        };
        let height = m.node(node);
        self.charge(m.bytes, at, what)?;
        if self.depth + height > MAX_DEPTH {
            return Err(too_deep(at, what));
        }
        Ok(())
    }
}

/// Approximate memory of a value tree, and its height (levels of blocks and arrays).
struct Measure {
    bytes: usize,
    /// Past this, stop walking: the answer is "too big" whatever the rest holds.
    limit: usize,
}

impl Measure {
    fn node(&mut self, node: &Node) -> usize {
        self.bytes += std::mem::size_of::<Node>() + node.literal.as_ref().map_or(0, String::len);
        match &node.value {
            Value::String(s) | Value::Datetime(s) => {
                self.bytes += s.len();
                0
            }
            Value::Integer(_) | Value::Float(_) | Value::Bool(_) => 0,
            Value::Array(items) => {
                let mut height = 0;
                for item in items {
                    if self.bytes > self.limit {
                        break;
                    }
                    height = height.max(self.node(item));
                }
                height + 1
            }
            Value::Map(map) => {
                let mut height = 0;
                for entry in map.entries() {
                    if self.bytes > self.limit {
                        break;
                    }
                    self.bytes += std::mem::size_of::<Entry>() + entry.key.len();
                    height = height.max(self.node(&entry.value));
                }
                height + 1
            }
        }
    }
}

fn too_deep(at: &Location, what: &str) -> ConfigError {
    ConfigError::at(
        ErrorKind::Limit,
        at,
        format!(
            "{what} nests deeper than {MAX_DEPTH} levels (blocks, arrays, includes and \
             environment variables together)"
        ),
    )
}

/// Parses configuration text. `origin` names it in messages; includes resolve against
/// `base_dir`.
pub(crate) fn parse_text(
    text: &str,
    origin: &str,
    base_dir: &Path,
    env: EnvLookup<'_>,
) -> Result<Map, ConfigError> {
    on_parse_stack(|| {
        let mut ctx = Context::new(env);
        parse_document(text, Arc::from(origin), base_dir, &mut ctx)
    })
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
    on_parse_stack(|| {
        let mut ctx = Context::new(env);
        parse_document(
            &text,
            Arc::from(path.display().to_string()),
            &base,
            &mut ctx,
        )
    })
}

/// Runs a parse on a thread of its own, with a [`PARSE_STACK`] stack.
fn on_parse_stack(
    parse: impl FnOnce() -> Result<Map, ConfigError> + Send,
) -> Result<Map, ConfigError> {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("natter-config".to_string())
            .stack_size(PARSE_STACK)
            .spawn_scoped(scope, parse)
            .map_err(|e| {
                ConfigError::new(
                    ErrorKind::Io,
                    None,
                    format!("cannot start a thread to read the configuration: {e}"),
                )
            })?;
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
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

/// The start of a value: complete, or a bracket whose contents come next.
enum Opened {
    Value(Node),
    /// Where the bracket is, and whether it opens an array.
    Nested(Location, bool),
}

/// What comes after a value inside a block or an array.
enum Next {
    /// Another item follows.
    More,
    /// The closing bracket was consumed.
    Closed,
}

// Nesting recurses through `parse_value` alone, which only holds what crosses a level:
// scanning and error messages, which take large frames in debug builds, live in helpers
// that are not inlined into it and return before it recurses, so a level stays cheap.
impl Parser<'_, '_, '_> {
    fn parse_top(&mut self) -> Result<(), ConfigError> {
        while self.top_item_start() {
            self.parse_entry()?;
            self.end_of_top_value()?;
        }
        Ok(())
    }

    /// Skips to the next top-level entry; false at the end of the text.
    #[inline(never)]
    fn top_item_start(&mut self) -> bool {
        loop {
            self.cur.skip_space_and_comments();
            match self.cur.peek() {
                None => return false,
                // nats-server lets a whole file sit inside one pair of braces.
                Some('{' | '}') => {
                    self.cur.bump();
                }
                Some(_) => return true,
            }
        }
    }

    /// After a top-level value: blanks, maybe a comment, then a new line, `;`, `,`, `}` or EOF.
    #[inline(never)]
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
        if let Some(key) = self.entry_key()? {
            let value = self.parse_value()?;
            self.store(key, value);
        }
        Ok(())
    }

    /// The key of an entry and its separator, up to the value; `None` for an include, which
    /// it handles.
    #[inline(never)]
    fn entry_key(&mut self) -> Result<Option<Key>, ConfigError> {
        let key = scan_key(&mut self.cur)?;
        if !key.quoted
            && key.name.eq_ignore_ascii_case("include")
            && matches!(self.cur.peek(), Some(' ' | '\t'))
        {
            self.parse_include(&key.location)?;
            return Ok(None);
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
            None | Some('}' | ']' | ',' | ';' | '\n' | '\r') => Err(self.cur.error(format!(
                "expected a value for '{}', found {}",
                key.name,
                show(self.cur.peek())
            ))),
            _ => Ok(Some(key)),
        }
    }

    #[inline(never)]
    fn store(&mut self, key: Key, value: Node) {
        self.scopes
            .last_mut()
            .expect("the top-level scope is never popped while parsing")
            .insert(Entry {
                key: key.name,
                key_location: key.location,
                value,
                used_as_variable: false,
            });
    }

    /// Blocks and arrays recurse through here alone: one frame per level. On an error the scopes
    /// are left as they are, since the whole parse is abandoned.
    fn parse_value(&mut self) -> Result<Node, ConfigError> {
        let (open, array) = match self.scalar_or_open()? {
            Opened::Value(node) => return Ok(node),
            Opened::Nested(open, array) => (open, array),
        };
        self.ctx
            .enter(&open, if array { "this array" } else { "this block" })?;
        if array {
            let mut items = Vec::new();
            while let Next::More = self.array_item_start(&open)? {
                items.push(self.parse_value()?);
                if let Next::Closed = self.array_item_end(&open)? {
                    break;
                }
            }
            self.ctx.leave();
            return Ok(Node {
                value: Value::Array(items),
                location: open,
                literal: None,
            });
        }
        self.scopes.push(Map::new());
        while let Next::More = self.map_item_start(&open)? {
            if let Some(key) = self.entry_key()? {
                let value = self.parse_value()?;
                self.store(key, value);
            }
            if let Next::Closed = self.map_item_end(&open)? {
                break;
            }
        }
        self.ctx.leave();
        Ok(self.close_map(open))
    }

    #[inline(never)]
    fn close_map(&mut self, open: Location) -> Node {
        Node {
            value: Value::Map(self.scopes.pop().unwrap_or_default()),
            location: open,
            literal: None,
        }
    }

    /// A scalar or a resolved variable, or the opening of an array (`true`) or a block.
    #[inline(never)]
    fn scalar_or_open(&mut self) -> Result<Opened, ConfigError> {
        let location = self.cur.location();
        match scan_value(&mut self.cur)? {
            Scanned::Scalar(value, literal) => Ok(Opened::Value(Node {
                value,
                location,
                literal,
            })),
            Scanned::Variable(name) => {
                let mut node = self.resolve_variable(&name, &location)?;
                node.location = location;
                Ok(Opened::Value(node))
            }
            Scanned::ArrayStart => Ok(Opened::Nested(location, true)),
            Scanned::MapStart => Ok(Opened::Nested(location, false)),
        }
    }

    #[inline(never)]
    fn array_item_start(&mut self, open: &Location) -> Result<Next, ConfigError> {
        self.cur.skip_space_and_comments();
        match self.cur.peek() {
            None => Err(unclosed(open, '[', ']')),
            Some(']') => {
                self.cur.bump();
                Ok(Next::Closed)
            }
            Some(',') => Err(self
                .cur
                .error("unexpected ',' in array: no value before it")),
            Some(_) => Ok(Next::More),
        }
    }

    #[inline(never)]
    fn array_item_end(&mut self, open: &Location) -> Result<Next, ConfigError> {
        self.cur.skip_blanks();
        if self.cur.at_comment() {
            self.cur.skip_comment();
        }
        match self.cur.peek() {
            None => Err(unclosed(open, '[', ']')),
            Some(']') => {
                self.cur.bump();
                Ok(Next::Closed)
            }
            Some(',' | '\n' | '\r') => {
                self.cur.bump();
                Ok(Next::More)
            }
            c => Err(self.cur.error(format!(
                "expected ',' or ']' after an array value, found {}",
                show(c)
            ))),
        }
    }

    #[inline(never)]
    fn map_item_start(&mut self, open: &Location) -> Result<Next, ConfigError> {
        self.cur.skip_space_and_comments();
        match self.cur.peek() {
            None => Err(unclosed(open, '{', '}')),
            Some('}') => {
                self.cur.bump();
                Ok(Next::Closed)
            }
            Some(c @ (',' | ']' | ':' | '=')) => {
                Err(self.cur.error(format!("expected a key, found '{c}'")))
            }
            Some(_) => Ok(Next::More),
        }
    }

    #[inline(never)]
    fn map_item_end(&mut self, open: &Location) -> Result<Next, ConfigError> {
        self.cur.skip_blanks();
        if self.cur.at_comment() {
            self.cur.skip_comment();
        }
        match self.cur.peek() {
            None => Err(unclosed(open, '{', '}')),
            Some('}') => {
                self.cur.bump();
                Ok(Next::Closed)
            }
            Some(',' | ';' | '\n' | '\r') => {
                self.cur.bump();
                Ok(Next::More)
            }
            c => Err(self.cur.error(format!(
                "expected ',', a new line or '}}' after a value, found {}",
                show(c)
            ))),
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
        self.ctx
            .charge(INCLUDE_COST.saturating_add(text.len()), at, "this include")?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.ctx.enter(at, "this include")?;
        self.ctx.include_depth += 1;
        let included = parse_document(
            &text,
            Arc::from(path.display().to_string()),
            &base,
            self.ctx,
        );
        self.ctx.include_depth -= 1;
        self.ctx.leave();
        let scope = self
            .scopes
            .last_mut()
            .expect("the top-level scope is never popped while parsing");
        for entry in included?.into_entries() {
            scope.insert(entry);
        }
        Ok(())
    }

    fn resolve_variable(&mut self, name: &str, at: &Location) -> Result<Node, ConfigError> {
        let what = format!("${name}");
        let mut found = None;
        for (i, scope) in self.scopes.iter_mut().enumerate().rev() {
            if let Some(entry) = scope.get_mut(name) {
                entry.used_as_variable = true;
                found = Some(i);
                break;
            }
        }
        if let Some(i) = found {
            let entry = self.scopes[i]
                .get(name)
                .expect("the entry was found in this scope just above");
            self.ctx.charge_copy(&entry.value, at, &what)?;
            return Ok(entry.value.clone());
        }
        if let Some(node) = self.ctx.env_values.remove(name) {
            let fits = self.ctx.charge_copy(&node, at, &what);
            let copy = fits.map(|()| node.clone());
            self.ctx.env_values.insert(name.to_string(), node);
            return copy;
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
        if self.ctx.env_stack.iter().any(|n| n == name) {
            return Err(ConfigError::at(
                ErrorKind::Syntax,
                at,
                format!("environment variable ${name} refers to itself"),
            ));
        }
        if self.ctx.env_stack.len() >= MAX_ENV_DEPTH {
            return Err(ConfigError::at(
                ErrorKind::Limit,
                at,
                format!(
                    "environment variable ${name}: environment variables refer to one another \
                     more than {MAX_ENV_DEPTH} deep"
                ),
            ));
        }
        // The environment value is parsed as a value, so it may be a number, a block...
        self.ctx.enter(at, &what)?;
        self.ctx.env_stack.push(name.to_string());
        let parsed = parse_document(
            &format!("pk={text}"),
            Arc::from(format!("environment variable ${name}")),
            &self.base_dir,
            self.ctx,
        );
        self.ctx.env_stack.pop();
        self.ctx.leave();
        let mut entries = parsed?.into_entries();
        match entries.pop() {
            Some(entry) if entries.is_empty() && entry.key == "pk" => {
                self.ctx.charge_copy(&entry.value, at, &what)?;
                self.ctx
                    .env_values
                    .insert(name.to_string(), entry.value.clone());
                Ok(entry.value)
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with_env(text: &str, env: &[(&str, String)]) -> Result<Map, ConfigError> {
        let lookup = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
        parse_text(text, "env.conf", Path::new(""), &lookup)
    }

    /// E0 = `[$E1, ... ten times]`, E1 likewise, ... : each variable is parsed once, and
    /// the copies are counted like those of file variables.
    #[test]
    fn environment_fan_out_is_bounded() {
        let names: Vec<String> = (0..12).map(|i| format!("E{i}")).collect();
        let mut env: Vec<(&str, String)> = Vec::new();
        for i in 0..11 {
            let refs = vec![format!("${}", names[i + 1]); 10].join(", ");
            env.push((&names[i], format!("[{refs}]")));
        }
        env.push((&names[11], "\"leaf\"".to_string()));
        let started = std::time::Instant::now();
        let err = parse_with_env("a: $E0", &env).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(err.kind(), ErrorKind::Limit, "{err}");
        // Fewer levels fit.
        let tree = parse_with_env("a: $E9", &env).unwrap();
        let Value::Array(items) = &tree.get("a").unwrap().value.value else {
            panic!("not an array");
        };
        assert_eq!(items.len(), 10);
    }

    #[test]
    fn environment_values_count_towards_the_nesting_limit() {
        let env = [("DEEP", format!("{}1{}", "[".repeat(10), "]".repeat(10)))];
        let at = |outer: usize| format!("a: {}$DEEP{}", "[".repeat(outer), "]".repeat(outer));
        // 118 + the variable + 10 = 129 levels; 117 + 1 + 10 = 128.
        let err = parse_with_env(&at(118), &env).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Limit, "{err}");
        parse_with_env(&at(117), &env).unwrap();
        // Once parsed, the value is reused: its height still counts where it is used.
        let text = format!("x: $DEEP\n{}", at(119));
        let err = parse_with_env(&text, &env).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Limit, "{err}");
        assert_eq!(err.location().unwrap().line, 2, "{err}");
    }

    #[test]
    fn environment_chains_are_bounded() {
        let names: Vec<String> = (0..40).map(|i| format!("C{i}")).collect();
        let env: Vec<(&str, String)> = (0..40)
            .map(|i| {
                (
                    names[i].as_str(),
                    format!("{{x: ${}}}", names[(i + 1) % 40]),
                )
            })
            .collect();
        let err = parse_with_env("a: $C0", &env).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Limit, "{err}");
        let env = [("SELF", "$SELF".to_string())];
        let err = parse_with_env("a: $SELF", &env).unwrap_err();
        assert!(err.to_string().contains("refers to itself"), "{err}");
    }
}
