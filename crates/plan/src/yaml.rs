//! The YAML document as a tree of nodes that remember where they were written.
//!
//! Deserializing straight into typed structs stops at the first mistake. Instead the whole
//! document is read into this permissive tree (every node carries its line, column and byte
//! span, via serde-saphyr's `Spanned`), and the loader walks it, collecting every mistake.
//! Only a YAML syntax error stops early, because after one there is no tree to walk.
//!
//! A plan may `include:` other files, so a position names its file too ([`FileId`]), and the
//! text of every file read is kept in [`Sources`] for messages that quote or count columns.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, MessageFormatter, Spanned};

/// A 1-based line and column (in characters) in one of the plan's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) column: usize,
    /// The file the position is in: the plan file itself or one it includes.
    pub(crate) file: FileId,
}

/// Which of the plan's files a node was written in: an index into [`Sources`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct FileId(u32);

impl FileId {
    /// The plan file given to the loader.
    pub(crate) const MAIN: FileId = FileId(0);
}

/// The name and text of every file a plan was read from, by [`FileId`]: the plan file first,
/// then each included file in the order it was read.
#[derive(Debug)]
pub(crate) struct Sources {
    files: Vec<(String, String)>,
}

impl Sources {
    /// Starts with the plan file: `name` as diagnostics show it, and its text.
    pub(crate) fn new(name: &str, text: &str) -> Sources {
        Sources { files: vec![(name.to_string(), text.to_string())] }
    }

    /// Adds a file and returns its id.
    pub(crate) fn add(&mut self, name: String, text: String) -> FileId {
        // Plans include a handful of files; more than u32::MAX cannot be read anyway.
        let id = FileId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        self.files.push((name, text));
        id
    }

    /// The file's name as diagnostics show it.
    pub(crate) fn name(&self, file: FileId) -> &str {
        self.files.get(file.0 as usize).map_or("", |(name, _)| name)
    }

    /// The file's text.
    pub(crate) fn text(&self, file: FileId) -> &str {
        self.files.get(file.0 as usize).map_or("", |(_, text)| text)
    }

    /// The directory relative paths in `file` are read from (empty: the current directory).
    pub(crate) fn dir(&self, file: FileId) -> &Path {
        Path::new(self.name(file)).parent().unwrap_or(Path::new(""))
    }

    /// The reading order of the file called `name` (the plan file is 0), for sorting
    /// diagnostics; names of no file sort last.
    pub(crate) fn rank(&self, name: &str) -> usize {
        self.files.iter().position(|(n, _)| n == name).unwrap_or(usize::MAX)
    }
}

/// Byte range of a node in the source, when known (not for values replayed from an alias).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ByteSpan {
    start: usize,
    len: usize,
}

/// A node and where it was written.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) value: Value,
    pub(crate) pos: Pos,
    span: Option<ByteSpan>,
}

/// A mapping key and where it was written.
#[derive(Debug)]
pub(crate) struct Key {
    pub(crate) name: String,
    pub(crate) pos: Pos,
    span: Option<ByteSpan>,
}

/// A YAML value. Scalars keep the type YAML 1.2 inference gives them; the loader turns them
/// back into text (from the source, so `0x1F` stays `0x1F`) where it wants text.
#[derive(Debug)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

impl Value {
    /// How the value is described in "found ..." messages.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Value::Null => "nothing",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::UInt(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A YAML syntax error: one message at one position.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub(crate) pos: Pos,
    pub(crate) message: String,
}

/// Parses the plan file's YAML into a tree.
pub(crate) fn parse(source: &str) -> Result<Node, SyntaxError> {
    parse_file(source, FileId::MAIN)
}

/// Parses one YAML document, the text of `file`, into a tree whose positions name `file`.
pub(crate) fn parse_file(source: &str, file: FileId) -> Result<Node, SyntaxError> {
    let options = serde_saphyr::options! {
        // `on`/`no`/`y` stay strings: a plan says `true`/`false` when it means a boolean.
        strict_booleans: true,
        // Duplicates reach the loader, which reports them beside every other mistake.
        duplicate_keys: serde_saphyr::options::DuplicateKeyPolicy::PassThrough,
    };
    let mut root = serde_saphyr::from_str_with_options::<Node>(source, options).map_err(|err| {
        let pos = err.location().map_or(Pos { line: 1, column: 1, file }, |l| Pos { file, ..pos_of(&l) });
        let message = serde_saphyr::UserMessageFormatter.format_message(err.without_snippet());
        SyntaxError { pos, message: message.into_owned() }
    })?;
    if file != FileId::MAIN {
        root.set_file(file);
    }
    Ok(root)
}

/// A position in the plan file; [`Node::set_file`] moves a tree into another file.
fn pos_of(loc: &Location) -> Pos {
    Pos {
        line: usize::try_from(loc.line()).unwrap_or(usize::MAX).max(1),
        column: usize::try_from(loc.column()).unwrap_or(usize::MAX).max(1),
        file: FileId::MAIN,
    }
}

fn span_of(loc: &Location) -> Option<ByteSpan> {
    let span = loc.span();
    Some(ByteSpan {
        start: usize::try_from(span.byte_offset()?).ok()?,
        len: usize::try_from(span.byte_len()?).ok()?,
    })
}

impl Node {
    /// Marks every position in the tree as being in `file` (serde cannot pass it down).
    fn set_file(&mut self, file: FileId) {
        self.pos.file = file;
        match &mut self.value {
            Value::Seq(items) => items.iter_mut().for_each(|n| n.set_file(file)),
            Value::Map(entries) => {
                for (key, node) in entries {
                    key.pos.file = file;
                    node.set_file(file);
                }
            }
            _ => {}
        }
    }

    /// The text of a scalar: a string as is, a number or boolean as written in the source.
    /// `None` for null, lists and mappings.
    pub(crate) fn scalar_text<'a>(&'a self, sources: &'a Sources) -> Option<Cow<'a, str>> {
        let fallback = match &self.value {
            Value::Str(s) => return Some(Cow::Borrowed(s)),
            Value::Null | Value::Seq(_) | Value::Map(_) => return None,
            Value::Bool(b) => b.to_string(),
            Value::Int(n) => n.to_string(),
            Value::UInt(n) => n.to_string(),
            Value::Float(n) => n.to_string(),
        };
        match written(self.span, sources.text(self.pos.file)) {
            Some(text) if !text.is_empty() && !text.starts_with(['"', '\'', '*', '&', '!']) => {
                Some(Cow::Borrowed(text))
            }
            _ => Some(Cow::Owned(fallback)),
        }
    }

    /// The position of the character at byte `offset` of this scalar's `text` (its value),
    /// when the scalar is written on one line so that columns can be counted; otherwise the
    /// node's own position.
    pub(crate) fn pos_within(&self, sources: &Sources, text: &str, offset: usize) -> Pos {
        pos_within(self.pos, written(self.span, sources.text(self.pos.file)), text, offset)
    }
}

impl Key {
    /// Like [`Node::pos_within`], for a key.
    pub(crate) fn pos_within(&self, sources: &Sources, offset: usize) -> Pos {
        pos_within(self.pos, written(self.span, sources.text(self.pos.file)), &self.name, offset)
    }
}

/// The node as written in the source, quotes included.
fn written(span: Option<ByteSpan>, source: &str) -> Option<&str> {
    span.and_then(|s| source.get(s.start..s.start + s.len))
}

fn pos_within(pos: Pos, written: Option<&str>, text: &str, offset: usize) -> Pos {
    let Some(written) = written else {
        return pos;
    };
    if text.contains('\n') || offset > text.len() || !text.is_char_boundary(offset) {
        return pos;
    }
    // Plain scalars are their text; quoted ones without escapes are their text in quotes.
    let opening = if written == text {
        0
    } else if written.len() == text.len() + 2
        && (written.starts_with('"') || written.starts_with('\''))
        && written.ends_with(&written[..1])
        && &written[1..written.len() - 1] == text
    {
        1
    } else {
        return pos;
    };
    Pos { column: pos.column + opening + text[..offset].chars().count(), ..pos }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        Ok(Node {
            value: spanned.value,
            pos: pos_of(&spanned.referenced),
            span: span_of(&spanned.referenced),
        })
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Keys are read as strings: `200:` is the key "200", and `n:` is not `false`.
        let spanned = Spanned::<String>::deserialize(deserializer)?;
        Ok(Key { name: spanned.value, pos: pos_of(&spanned.referenced), span: span_of(&spanned.referenced) })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::UInt(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(u64::try_from(v).map_or(Value::Float(v as f64), Value::UInt))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Str(String::from_utf8_lossy(v).into_owned()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(node) = seq.next_element::<Node>()? {
            items.push(node);
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<Key, Node>()? {
            entries.push(entry);
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(node: &Node) -> &[(Key, Node)] {
        match &node.value {
            Value::Map(m) => m,
            other => panic!("expected a map, got {other:?}"),
        }
    }

    fn at(line: usize, column: usize) -> Pos {
        Pos { line, column, file: FileId::MAIN }
    }

    #[test]
    fn nodes_know_their_positions() {
        let src = "a: 1\nb:\n  - x\n  - \"y z\"\nc: { d: 0x1F, e: no }\n";
        let sources = Sources::new("plan.yaml", src);
        let root = parse(src).unwrap();
        let m = map(&root);
        assert_eq!(m[0].0.name, "a");
        assert_eq!(m[0].1.pos, at(1, 4));
        let Value::Seq(items) = &m[1].1.value else { panic!() };
        assert_eq!(items[1].pos, at(4, 5));
        // Quoted: the character after the quote.
        assert_eq!(items[1].pos_within(&sources, "y z", 2), at(4, 8));
        let c = map(&m[2].1);
        assert_eq!(c[0].1.scalar_text(&sources).unwrap(), "0x1F");
        assert!(matches!(c[1].1.value, Value::Str(ref s) if s == "no"));
        assert_eq!(c[1].0.pos, at(5, 15));
    }

    #[test]
    fn nodes_of_another_file_name_it_and_read_its_text() {
        let main = "a: 1\n";
        let other = "x:\n  y: \"v {{ w }}\"\n  z: 0x1F\n";
        let mut sources = Sources::new("plan.yaml", main);
        let id = sources.add("other.yaml".into(), other.into());
        let root = parse_file(other, id).unwrap();
        let x = map(&root);
        assert_eq!(x[0].0.pos, Pos { line: 1, column: 1, file: id });
        let inner = map(&x[0].1);
        assert_eq!(inner[0].0.pos.file, id, "keys are moved too");
        assert_eq!(inner[0].1.pos_within(&sources, "v {{ w }}", 2), Pos { line: 2, column: 9, file: id });
        assert_eq!(inner[1].1.scalar_text(&sources).unwrap(), "0x1F");
        assert_eq!(sources.name(id), "other.yaml");
        assert_eq!((sources.rank("plan.yaml"), sources.rank("other.yaml")), (0, 1));
        let err = parse_file("a: [1\n", id).unwrap_err();
        assert_eq!(err.pos.file, id);
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let err = parse("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert_eq!(err.pos, at(3, 2));
        assert!(!err.message.is_empty());
    }

    #[test]
    fn duplicates_reach_the_tree() {
        let root = parse("a: 1\na: 2\n").unwrap();
        assert_eq!(map(&root).len(), 2);
    }
}
