//! Where a key is in a native scenario file, so that an error about what the file
//! *says* (not its syntax, which the parsers locate themselves) can give the line.
//!
//! The serde model keeps no positions, and checks run after it is built; so when a
//! check fails, the text is read a second time into a [`Node`] tree of byte offsets
//! (TOML through `toml::Spanned`, JSON by a small scanner) and the failing field is
//! looked up by its path, e.g. `parties[1].red_lines[0].never[2]`. Valid files never
//! pay for it. Locating is best effort: whatever cannot be located gives no line.

use std::cell::OnceCell;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

/// One step of a path into the document: a key of a table or an element of an array.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Step<'a> {
    /// A key.
    Key(&'a str),
    /// An element, from 0.
    Index(usize),
}

impl<'a> From<&'a str> for Step<'a> {
    fn from(key: &'a str) -> Self {
        Step::Key(key)
    }
}

impl<'a> From<&'a String> for Step<'a> {
    fn from(key: &'a String) -> Self {
        Step::Key(key)
    }
}

impl From<usize> for Step<'_> {
    fn from(index: usize) -> Self {
        Step::Index(index)
    }
}

/// A path into the document: `at!["parties", 0, "reservation"]`.
macro_rules! at {
    ($($step:expr),* $(,)?) => {
        &[$($crate::locate::Step::from($step)),*][..]
    };
}
pub(crate) use at;

/// The syntax of a source text.
#[derive(Clone, Copy, Debug)]
enum Syntax {
    Toml,
    Json,
}

/// A source text and, once asked, the positions of its keys.
pub(crate) struct Locator<'a> {
    source: Option<(&'a str, Syntax)>,
    tree: OnceCell<Option<Node>>,
}

impl<'a> Locator<'a> {
    /// No source text: nothing is located.
    pub(crate) fn none() -> Locator<'static> {
        Locator {
            source: None,
            tree: OnceCell::new(),
        }
    }

    /// A TOML text.
    pub(crate) fn toml(text: &'a str) -> Locator<'a> {
        Locator {
            source: Some((text, Syntax::Toml)),
            tree: OnceCell::new(),
        }
    }

    /// A JSON text.
    pub(crate) fn json(text: &'a str) -> Locator<'a> {
        Locator {
            source: Some((text, Syntax::Json)),
            tree: OnceCell::new(),
        }
    }

    /// The line (from 1) of the deepest step of `path` found in the text: the key or
    /// element itself, or else the nearest thing around it that is there (the table of
    /// a missing key). `None` when there is no text or it cannot be read.
    pub(crate) fn line(&self, path: &[Step]) -> Option<usize> {
        let (text, syntax) = self.source?;
        let tree = self
            .tree
            .get_or_init(|| match syntax {
                Syntax::Toml => toml::from_str::<Node>(text).ok(),
                Syntax::Json => JsonScanner::new(text).document(),
            })
            .as_ref()?;
        let mut node = tree;
        let mut offset = None;
        for step in path {
            let (at, next) = match (step, node) {
                (Step::Key(key), Node::Table(entries)) => {
                    match entries.iter().find(|e| e.key == *key) {
                        Some(entry) => (entry.at, &entry.node),
                        None => break,
                    }
                }
                (Step::Index(index), Node::Array(items)) => match items.get(*index) {
                    Some((at, item)) => (*at, item),
                    None => break,
                },
                _ => break,
            };
            offset = Some(at);
            node = next;
        }
        let offset = offset?;
        let before = text.get(..offset)?;
        Some(before.bytes().filter(|&b| b == b'\n').count() + 1)
    }
}

/// A value of the document, with the byte offsets of its keys and elements.
#[derive(Debug)]
enum Node {
    /// A table (TOML) or object (JSON).
    Table(Vec<Entry>),
    /// An array, each element with its offset.
    Array(Vec<(usize, Node)>),
    /// Anything else.
    Leaf,
}

/// A key of a table, where it is written and its value.
#[derive(Debug)]
struct Entry {
    key: String,
    at: usize,
    node: Node,
}

// TOML: keys and array elements carry their spans (`toml::Spanned`); a table value
// itself may not (an implicit table such as `a` in `[a.b]` has none), so values of
// keys are read without one.
impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any TOML value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = access.next_key::<Spanned<String>>()? {
                    let at = key.span().start;
                    entries.push(Entry {
                        key: key.into_inner(),
                        at,
                        node: access.next_value::<Node>()?,
                    });
                }
                Ok(Node::Table(entries))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = access.next_element::<Spanned<Node>>()? {
                    let at = item.span().start;
                    items.push((at, item.into_inner()));
                }
                Ok(Node::Array(items))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_str<E>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_string<E>(self, _: String) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
                Node::deserialize(deserializer)
            }
        }
        deserializer.deserialize_any(NodeVisitor)
    }
}

/// Reads the positions of a JSON text's keys and elements. It expects well-formed
/// JSON (the text has been parsed by serde_json before) and gives up, returning
/// `None`, on anything else.
struct JsonScanner<'a> {
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

/// serde_json refuses deeper nesting; so does the scanner, to bound its recursion.
const MAX_DEPTH: usize = 256;

impl<'a> JsonScanner<'a> {
    fn new(text: &'a str) -> JsonScanner<'a> {
        JsonScanner {
            bytes: text.as_bytes(),
            pos: 0,
            depth: 0,
        }
    }

    fn document(mut self) -> Option<Node> {
        self.value()
    }

    fn skip_whitespace(&mut self) {
        while self
            .bytes
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    fn value(&mut self) -> Option<Node> {
        self.skip_whitespace();
        match self.peek()? {
            b'{' | b'[' if self.depth >= MAX_DEPTH => None,
            b'{' => {
                self.pos += 1;
                self.depth += 1;
                let mut entries = Vec::new();
                self.skip_whitespace();
                if self.peek()? == b'}' {
                    self.pos += 1;
                } else {
                    loop {
                        self.skip_whitespace();
                        let at = self.pos;
                        let key = self.string()?;
                        self.eat(b':')?;
                        let node = self.value()?;
                        entries.push(Entry { key, at, node });
                        self.skip_whitespace();
                        match self.peek()? {
                            b',' => self.pos += 1,
                            b'}' => {
                                self.pos += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                self.depth -= 1;
                Some(Node::Table(entries))
            }
            b'[' => {
                self.pos += 1;
                self.depth += 1;
                let mut items = Vec::new();
                self.skip_whitespace();
                if self.peek()? == b']' {
                    self.pos += 1;
                } else {
                    loop {
                        self.skip_whitespace();
                        let at = self.pos;
                        items.push((at, self.value()?));
                        self.skip_whitespace();
                        match self.peek()? {
                            b',' => self.pos += 1,
                            b']' => {
                                self.pos += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                self.depth -= 1;
                Some(Node::Array(items))
            }
            b'"' => self.string().map(|_| Node::Leaf),
            _ => {
                // A number, `true`, `false` or `null`: up to the next delimiter.
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|b| !b.is_ascii_whitespace() && !b",]}".contains(&b))
                {
                    self.pos += 1;
                }
                (self.pos > start).then_some(Node::Leaf)
            }
        }
    }

    /// A string at the cursor, unescaped.
    fn string(&mut self) -> Option<String> {
        if self.peek()? != b'"' {
            return None;
        }
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while self.peek().is_some_and(|b| b != b'"' && b != b'\\') {
                self.pos += 1;
            }
            out.push_str(std::str::from_utf8(self.bytes.get(start..self.pos)?).ok()?);
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(out);
                }
                _ => {
                    self.pos += 1;
                    let escaped = self.peek()?;
                    self.pos += 1;
                    match escaped {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let high = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&high)
                                && self.bytes.get(self.pos..self.pos + 2) == Some(b"\\u")
                            {
                                self.pos += 2;
                                let low = self.hex4()?;
                                0x10000 + ((high - 0xD800) << 10) + low.checked_sub(0xDC00)?
                            } else {
                                high
                            };
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                        }
                        _ => return None,
                    }
                }
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = std::str::from_utf8(self.bytes.get(self.pos..self.pos + 4)?).ok()?;
        self.pos += 4;
        u32::from_str_radix(digits, 16).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"name = "x"

[[parties]]
name = "a"
[[parties.utility.issues]]
issue = "c"

[[parties]]
name = "b"
never = [
  "one",
  "two",
]
[[parties.red_lines]]
issue = "q"
consequences = [ { label = "l", utility = 1 },
  { label = "m", utility = 0 } ]
"#;

    #[test]
    fn toml_keys_elements_and_headers_have_lines() {
        let locator = Locator::toml(TOML);
        assert_eq!(locator.line(at!["name"]), Some(1));
        assert_eq!(locator.line(at!["parties", 0]), Some(3));
        assert_eq!(
            locator.line(at!["parties", 0, "utility", "issues", 0]),
            Some(5)
        );
        assert_eq!(locator.line(at!["parties", 1, "name"]), Some(9));
        assert_eq!(locator.line(at!["parties", 1, "never", 1]), Some(12));
        assert_eq!(locator.line(at!["parties", 1, "red_lines", 0]), Some(14));
        assert_eq!(
            locator.line(at![
                "parties",
                1,
                "red_lines",
                0,
                "consequences",
                1,
                "utility"
            ]),
            Some(17)
        );
        // A missing key: its table.
        assert_eq!(
            locator.line(at!["parties", 1, "red_lines", 0, "below"]),
            Some(14)
        );
        assert_eq!(locator.line(at!["nothing"]), None);
        assert_eq!(Locator::none().line(at!["name"]), None);
    }

    #[test]
    fn json_keys_and_elements_have_lines() {
        let text = "{\"name\": \"x\",\n \"parties\": [\n  {\"name\": \"a\\\"\\u00e9\",\n   \"n\\u0061me2\": [1,\n 2.5e3, null, {\"k\": []}]}]}";
        let locator = Locator::json(text);
        assert_eq!(locator.line(at!["parties"]), Some(2));
        assert_eq!(locator.line(at!["parties", 0]), Some(3));
        assert_eq!(locator.line(at!["parties", 0, "name2", 1]), Some(5));
        assert_eq!(locator.line(at!["parties", 0, "name2", 3, "k"]), Some(5));
        assert_eq!(Locator::json("{\"a\": [1,}").line(at!["a"]), None);
        assert_eq!(Locator::json("[[[[").line(at![0]), None);
    }
}
