//! Labels: the names people read and type — issue names, discrete value names, party
//! names and scenario names.
//!
//! A label is stored in one canonical spelling, so that two strings that look the same
//! are the same label, and it may not hold characters that hide or disguise text (a
//! right-to-left override makes a label render reversed; a zero-width space makes two
//! labels that look alike differ). The rules, applied by [`normalize`]:
//!
//! 1. **Refused characters**, anywhere in the label as given (see [`char_class`]):
//!    control characters (general category Cc: NUL, tab, newline, escape, DEL, the C1
//!    controls); bidi controls (U+061C, U+200E, U+200F, U+202A–U+202E,
//!    U+2066–U+2069); zero-width characters (U+200B–U+200D, U+2060, U+FEFF); every other
//!    format character (general category Cf: the soft hyphen U+00AD, the invisible
//!    operators U+2061–U+2064, tag characters, …); the line and paragraph separators
//!    U+2028 and U+2029; the Hangul fillers, which render as blank space (U+115F,
//!    U+1160, U+3164, U+FFA0); and noncharacters (U+FDD0–U+FDEF and the last two code
//!    points of every plane). Ordinary spaces, the no-break space and other space
//!    separators (Zs), combining marks, emoji and private-use characters are allowed.
//!    Emoji sequences joined by U+200D and Persian words written with U+200C are refused
//!    with the other zero-width characters: a label is a name to negotiate over, and
//!    telling look-alikes apart matters more there.
//! 2. **Canonical spelling**: Unicode normalisation form C (NFC), then leading and
//!    trailing whitespace removed. `"é"` (U+00E9) and `"e\u{301}"` become the same label.
//! 3. **Not empty**: a label that is empty, or only whitespace, is refused.
//! 4. **At most [`MAX_LABEL_CHARS`] characters**, counted after normalisation.
//!
//! Labels are compared after normalisation, so the constructors of
//! [`Issue`](crate::Issue), [`OutcomeSpace`](crate::OutcomeSpace) and
//! [`Scenario`](crate::Scenario) refuse two values, issues or parties whose names differ
//! only in spelling. Lookups by label ([`Issue::value_index`](crate::Issue::value_index),
//! [`OutcomeSpace::issue_index`](crate::OutcomeSpace::issue_index),
//! [`Scenario::party_index`](crate::Scenario::party_index), [`position`]) apply
//! [`canonical`] to what they are given, so a client that sends a decomposed (NFD)
//! spelling finds the value stored in NFC.
//!
//! ```
//! use parley_core::label;
//!
//! assert_eq!(label::normalize("value", " cafe\u{301} ")?, "caf\u{e9}");
//! let error = label::normalize("issue name", "pr\u{202e}ice").expect_err("an override");
//! assert_eq!(
//!     error.to_string(),
//!     "issue name \"pr\\u{202e}ice\" contains the right-to-left override U+202E \
//!      (a bidi control) at character 3; labels may not contain control, bidi, \
//!      zero-width or other invisible characters"
//! );
//! # Ok::<(), label::LabelError>(())
//! ```

use std::borrow::Cow;
use std::fmt;

use unicode_normalization::{is_nfc, UnicodeNormalization};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// The longest label, in characters (Unicode scalar values) after normalisation.
pub const MAX_LABEL_CHARS: usize = 256;

/// A label longer than this many characters as given is refused before it is
/// normalised (NFC shortens text by composing marks, but not by a factor of four).
const MAX_RAW_CHARS: usize = 4 * MAX_LABEL_CHARS;

/// An error message shows at most this many characters of the label.
const SHOWN_CHARS: usize = 64;

/// Why a character may not appear in a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CharClass {
    /// General category Cc: NUL, tab, newline, carriage return, escape, DEL, C1 controls.
    Control,
    /// A bidirectional formatting character: an embedding, override, isolate or mark.
    Bidi,
    /// A zero-width space, joiner or non-joiner, the word joiner, or the byte order mark.
    ZeroWidth,
    /// Any other format character (general category Cf), such as the soft hyphen.
    Format,
    /// The line separator U+2028 or the paragraph separator U+2029.
    LineBreak,
    /// A Hangul filler: a letter that renders as blank space.
    Filler,
    /// A noncharacter: U+FDD0–U+FDEF, or U+xxFFFE and U+xxFFFF in any plane.
    Noncharacter,
    /// Another character that is drawn as nothing or as blank space (Unicode's default
    /// ignorable code points that are not format characters: the combining grapheme
    /// joiner, the variation selectors other than the emoji ones, the Mongolian free
    /// variation selectors, the Khmer inherent vowels; and the blank braille pattern).
    Invisible,
}

impl CharClass {
    /// The class in words, with its article: "a bidi control".
    pub fn description(self) -> &'static str {
        match self {
            CharClass::Control => "a control character",
            CharClass::Bidi => "a bidi control",
            CharClass::ZeroWidth => "a zero-width character",
            CharClass::Format => "an invisible format character",
            CharClass::LineBreak => "a line break",
            CharClass::Filler => "an invisible filler",
            CharClass::Noncharacter => "a noncharacter",
            CharClass::Invisible => "an invisible character",
        }
    }
}

/// Whether `c` may appear in a label: `None` when it may, else why not.
pub fn char_class(c: char) -> Option<CharClass> {
    match c {
        '\u{061C}'
        | '\u{200E}'
        | '\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}' => Some(CharClass::Bidi),
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => Some(CharClass::ZeroWidth),
        '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' => Some(CharClass::Filler),
        // Default ignorable code points outside the format characters, except the
        // emoji and text presentation selectors U+FE0E and U+FE0F (which lookalike
        // comparison ignores), and the blank braille pattern.
        '\u{034F}'
        | '\u{17B4}'
        | '\u{17B5}'
        | '\u{180B}'..='\u{180F}'
        | '\u{FE00}'..='\u{FE0D}'
        | '\u{E0100}'..='\u{E01EF}'
        | '\u{2065}'
        | '\u{2800}' => Some(CharClass::Invisible),
        _ => match c.general_category() {
            GeneralCategory::Control => Some(CharClass::Control),
            GeneralCategory::Format => Some(CharClass::Format),
            GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => {
                Some(CharClass::LineBreak)
            }
            _ if is_noncharacter(c) => Some(CharClass::Noncharacter),
            _ => None,
        },
    }
}

fn is_noncharacter(c: char) -> bool {
    let code = c as u32;
    (0xFDD0..=0xFDEF).contains(&code) || code & 0xFFFE == 0xFFFE
}

/// The name of a well-known refused character, for error messages.
fn char_name(c: char) -> Option<&'static str> {
    Some(match c {
        '\0' => "null character",
        '\t' => "tab",
        '\n' => "line feed",
        '\r' => "carriage return",
        '\u{1B}' => "escape character",
        '\u{7F}' => "delete character",
        '\u{85}' => "next line character",
        '\u{AD}' => "soft hyphen",
        '\u{061C}' => "Arabic letter mark",
        '\u{115F}' => "Hangul choseong filler",
        '\u{1160}' => "Hangul jungseong filler",
        '\u{034F}' => "combining grapheme joiner",
        '\u{180E}' => "Mongolian vowel separator",
        '\u{2800}' => "braille pattern blank",
        '\u{200B}' => "zero-width space",
        '\u{200C}' => "zero-width non-joiner",
        '\u{200D}' => "zero-width joiner",
        '\u{200E}' => "left-to-right mark",
        '\u{200F}' => "right-to-left mark",
        '\u{2028}' => "line separator",
        '\u{2029}' => "paragraph separator",
        '\u{202A}' => "left-to-right embedding",
        '\u{202B}' => "right-to-left embedding",
        '\u{202C}' => "pop directional formatting",
        '\u{202D}' => "left-to-right override",
        '\u{202E}' => "right-to-left override",
        '\u{2060}' => "word joiner",
        '\u{2061}' => "function application",
        '\u{2062}' => "invisible times",
        '\u{2063}' => "invisible separator",
        '\u{2064}' => "invisible plus",
        '\u{2066}' => "left-to-right isolate",
        '\u{2067}' => "right-to-left isolate",
        '\u{2068}' => "first strong isolate",
        '\u{2069}' => "pop directional isolate",
        '\u{3164}' => "Hangul filler",
        '\u{FEFF}' => "byte order mark",
        '\u{FFA0}' => "halfwidth Hangul filler",
        '\u{E0001}' => "language tag",
        '\u{E0020}'..='\u{E007F}' => "tag character",
        _ => return None,
    })
}

/// What is wrong with a label.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LabelProblem {
    /// The label is empty, or only whitespace.
    Empty,
    /// The label has more than [`MAX_LABEL_CHARS`] characters.
    TooLong {
        /// How many characters it has (as given, when that is more than four times the
        /// limit; else after normalisation).
        chars: usize,
    },
    /// The label holds a character that labels may not hold.
    Refused {
        /// The character.
        character: char,
        /// Why it is refused.
        class: CharClass,
        /// Where it is: the first character of the label as given is 1 (characters, not
        /// bytes).
        position: usize,
    },
    /// A free text (a description) has more than [`MAX_TEXT_CHARS`] characters.
    TextTooLong {
        /// How many characters it has.
        chars: usize,
    },
    /// More than [`MAX_STACKED_MARKS`] combining marks on one character (text that
    /// spills over the lines around it).
    StackedMarks {
        /// Where the mark over the limit is, after normalisation (the first character
        /// is 1).
        position: usize,
    },
}

/// The most combining marks one character may carry (after NFC composes what it can):
/// enough for any written language, too few to draw over the text around it.
pub const MAX_STACKED_MARKS: usize = 4;

impl fmt::Display for LabelProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelProblem::Empty => f.write_str("is empty or only whitespace"),
            LabelProblem::TextTooLong { chars } => {
                write!(f, "has {chars} characters, more than {MAX_TEXT_CHARS}")
            }
            LabelProblem::StackedMarks { position } => write!(
                f,
                "stacks more than {MAX_STACKED_MARKS} combining marks on one character (at \
                 character {position})"
            ),
            LabelProblem::TooLong { chars } => {
                write!(f, "has {chars} characters, more than {MAX_LABEL_CHARS}")
            }
            LabelProblem::Refused {
                character,
                class,
                position,
            } => {
                f.write_str("contains ")?;
                if let Some(name) = char_name(*character) {
                    write!(f, "the {name} ")?;
                }
                write!(
                    f,
                    "U+{:04X} ({}) at character {position}; labels may not contain control, \
                     bidi, zero-width or other invisible characters",
                    *character as u32,
                    class.description()
                )
            }
        }
    }
}

/// A label that cannot be used, with what it names and where the problem is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelError {
    what: String,
    label: String,
    problem: LabelProblem,
}

impl LabelError {
    pub(crate) fn new(what: impl Into<String>, label: &str, problem: LabelProblem) -> LabelError {
        // Keep a bounded copy: the label may be a megabyte of junk.
        let label = match label.char_indices().nth(MAX_RAW_CHARS) {
            Some((end, _)) => label[..end].to_string(),
            None => label.to_string(),
        };
        LabelError {
            what: what.into(),
            label,
            problem,
        }
    }

    /// What the label names, such as `issue name` or `issue "colour": value 2`.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The label as given (its first 1024 characters when it is longer).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// What is wrong with it.
    pub fn problem(&self) -> &LabelProblem {
        &self.problem
    }
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.what, escaped(&self.label), self.problem)
    }
}

impl std::error::Error for LabelError {}

/// The label quoted as Rust's `{:?}` does, so that control and invisible characters show
/// as `\u{...}`, and cut after 64 characters.
pub fn escaped(label: &str) -> String {
    let mut out = String::with_capacity(label.len() + 2);
    out.push('"');
    for (idx, c) in label.chars().enumerate() {
        if idx == SHOWN_CHARS {
            let rest = label.chars().count() - idx;
            out.push_str(&format!("\"… ({rest} more characters)"));
            return out;
        }
        match c {
            // `char::escape_debug` escapes the single quote, which `{:?}` of a string
            // does not.
            '\'' => out.push(c),
            c if char_class(c).is_some() && !matches!(c, '\0' | '\t' | '\n' | '\r') => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.extend(c.escape_debug()),
        }
    }
    out.push('"');
    out
}

/// The canonical spelling of a label, without checking it: NFC, then leading and
/// trailing whitespace removed. Use it to look a label up; [`normalize`] (which applies
/// it) to accept one.
pub fn canonical(raw: &str) -> Cow<'_, str> {
    if is_nfc(raw) {
        return Cow::Borrowed(raw.trim());
    }
    let composed: String = raw.nfc().collect();
    let trimmed = composed.trim();
    if trimmed.len() == composed.len() {
        Cow::Owned(composed)
    } else {
        Cow::Owned(trimmed.to_string())
    }
}

/// Whether two strings are the same label once both are in canonical spelling.
pub fn same_label(a: &str, b: &str) -> bool {
    canonical(a) == canonical(b)
}

/// The position of `query` in `labels`, comparing canonical spellings: the lookup for a
/// list of names (values, issues, parties, roles) that a client spells its own way.
pub fn position<'a, I>(labels: I, query: &str) -> Option<usize>
where
    I: IntoIterator<Item = &'a str>,
{
    let query = canonical(query);
    labels
        .into_iter()
        .position(|label| canonical(label) == query)
}

/// The label in canonical spelling, or why it cannot be a label (see the module
/// documentation for the rules).
pub(crate) fn check(raw: &str) -> Result<String, LabelProblem> {
    let raw_chars = raw.chars().count();
    if raw_chars > MAX_RAW_CHARS {
        return Err(LabelProblem::TooLong { chars: raw_chars });
    }
    // Checked on the label as given, so the position is one its author can find; NFC
    // neither makes nor removes any refused character.
    if let Some((idx, character, class)) = raw
        .chars()
        .enumerate()
        .find_map(|(idx, c)| char_class(c).map(|class| (idx, c, class)))
    {
        return Err(LabelProblem::Refused {
            character,
            class,
            position: idx + 1,
        });
    }
    let label = canonical(raw).into_owned();
    if label.is_empty() {
        return Err(LabelProblem::Empty);
    }
    let chars = label.chars().count();
    if chars > MAX_LABEL_CHARS {
        return Err(LabelProblem::TooLong { chars });
    }
    if let Some(position) = stacked_marks(&label) {
        return Err(LabelProblem::StackedMarks { position });
    }
    Ok(label)
}

/// The position (from 1) of the first combining mark over [`MAX_STACKED_MARKS`] in a
/// row, if any.
fn stacked_marks(text: &str) -> Option<usize> {
    let mut run = 0;
    for (idx, c) in text.chars().enumerate() {
        if matches!(
            c.general_category(),
            GeneralCategory::NonspacingMark
                | GeneralCategory::SpacingMark
                | GeneralCategory::EnclosingMark
        ) {
            run += 1;
            if run > MAX_STACKED_MARKS {
                return Some(idx + 1);
            }
        } else {
            run = 0;
        }
    }
    None
}

/// The key under which labels that look alike collide: compatibility-normalised
/// (NFKC: full-width and ligature forms become plain ones), lower-cased, runs of
/// whitespace made one space, and reduced to its Unicode confusable skeleton (UTS #39:
/// the Cyrillic `а` and the Latin `a`, `rn` and `m`, `0` and `O` become one). Two
/// different labels in one list (the values of an issue, the issues, the parties) may
/// not share a key: a person choosing among them could not tell them apart.
pub fn lookalike_key(label: &str) -> String {
    use unicode_security::confusable_detection::skeleton;
    let folded: String = label.nfkc().flat_map(char::to_lowercase).collect();
    let mut spaced = String::with_capacity(folded.len());
    for word in folded.split_whitespace() {
        if !spaced.is_empty() {
            spaced.push(' ');
        }
        spaced.push_str(word);
    }
    skeleton(&spaced).flat_map(char::to_lowercase).collect()
}

/// The first two labels of `labels` (in canonical spelling) that differ but look
/// alike ([`lookalike_key`]), by position.
pub(crate) fn first_lookalikes<'a, I>(labels: I) -> Option<(usize, usize)>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut seen: std::collections::HashMap<String, (usize, &str)> =
        std::collections::HashMap::new();
    for (idx, label) in labels.into_iter().enumerate() {
        if let Some(&(first, other)) = seen.get(&lookalike_key(label)) {
            if other != label {
                return Some((first, idx));
            }
        } else {
            seen.insert(lookalike_key(label), (idx, label));
        }
    }
    None
}

/// Why two labels are refused as lookalikes.
pub(crate) fn lookalike_message(first: &str, second: &str) -> String {
    format!(
        "{} and {} look alike (they differ only in letter case, spacing, width or \
         characters drawn the same); rename one",
        escaped(first),
        escaped(second)
    )
}

/// The most characters a description (a scenario's briefing) may have.
pub const MAX_TEXT_CHARS: usize = 65_536;

/// Accepts free text such as a scenario's description: NFC, outer whitespace removed,
/// at most [`MAX_TEXT_CHARS`] characters; line breaks and tabs are kept, every other
/// character refused in labels (controls, bidi controls, zero-width and invisible
/// characters) is refused, and so are stacked combining marks.
pub fn normalize_text(what: &str, raw: &str) -> Result<String, LabelError> {
    let fail = |problem| LabelError::new(what, raw, problem);
    let raw_chars = raw.chars().count();
    if raw_chars > 4 * MAX_TEXT_CHARS {
        return Err(fail(LabelProblem::TextTooLong { chars: raw_chars }));
    }
    if let Some((idx, character, class)) = raw.chars().enumerate().find_map(|(idx, c)| {
        if matches!(c, '\n' | '\t' | '\r') {
            return None;
        }
        char_class(c).map(|class| (idx, c, class))
    }) {
        return Err(fail(LabelProblem::Refused {
            character,
            class,
            position: idx + 1,
        }));
    }
    let text = canonical(raw).replace("\r\n", "\n");
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(fail(LabelProblem::TextTooLong { chars }));
    }
    if let Some(position) = stacked_marks(&text) {
        return Err(fail(LabelProblem::StackedMarks { position }));
    }
    Ok(text)
}

/// Accepts a label: refuses control, bidi, zero-width and other invisible characters,
/// empty or whitespace-only labels and labels longer than [`MAX_LABEL_CHARS`], and
/// returns the canonical spelling (NFC, outer whitespace removed).
///
/// `what` names the label in the error, such as `"issue name"` or `"party name"`.
pub fn normalize(what: &str, raw: &str) -> Result<String, LabelError> {
    check(raw).map_err(|problem| LabelError::new(what, raw, problem))
}

/// What to add when two labels collide: nothing when they are spelled alike, else
/// `: "é" and "e\u{301}" are the same label once normalised (…)`.
pub(crate) fn twins(first: &str, second: &str) -> String {
    if first == second {
        String::new()
    } else {
        format!(
            ": {} and {} are the same label once normalised (Unicode NFC, outer whitespace removed)",
            escaped(first),
            escaped(second)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_shows_invisible_characters() {
        assert_eq!(escaped("a\u{202e}b"), "\"a\\u{202e}b\"");
        assert_eq!(escaped("a\u{3164}b"), "\"a\\u{3164}b\"");
        assert_eq!(escaped("a\0\t\"'\\"), "\"a\\0\\t\\\"'\\\\\"");
        assert_eq!(escaped("e\u{301}"), "\"e\\u{301}\"");
        let long = "x".repeat(100);
        assert!(escaped(&long).ends_with("\"… (36 more characters)"));
    }

    #[test]
    fn noncharacters() {
        for c in [
            '\u{FDD0}',
            '\u{FDEF}',
            '\u{FFFE}',
            '\u{FFFF}',
            '\u{10FFFF}',
            '\u{1FFFE}',
        ] {
            assert_eq!(char_class(c), Some(CharClass::Noncharacter), "{c:?}");
        }
        assert_eq!(char_class('\u{FFFD}'), None);
    }
}
