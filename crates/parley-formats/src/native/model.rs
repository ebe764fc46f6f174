//! The serde model of the native format: the file's shape, field by field.

use std::fmt;

use parley_core::Curve;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A map that keeps the order of its keys and refuses duplicates.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<V: Serialize> Serialize for OrderedMap<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct MapVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of names to values")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut access: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, V)> = Vec::new();
                while let Some((key, value)) = access.next_entry::<String, V>()? {
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(serde::de::Error::custom(format!(
                            "key {key:?} appears twice"
                        )));
                    }
                    entries.push((key, value));
                }
                Ok(OrderedMap(entries))
            }
        }
        deserializer.deserialize_map(MapVisitor(std::marker::PhantomData))
    }
}

/// A number as written: whole or not.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Number {
    /// A whole number.
    Int(i64),
    /// Any other number.
    Float(f64),
}

impl Number {
    pub(super) fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(x) => x,
        }
    }
}

/// An issue value in a rectangle bound or a red line: a number or a value name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Label {
    /// A whole number.
    Int(i64),
    /// A real number.
    Float(f64),
    /// A value name.
    Text(String),
}

/// The kind of an issue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueType {
    /// Named values.
    #[default]
    Discrete,
    /// Whole numbers in a range.
    Integer,
    /// A real interval.
    Real,
}

/// A scenario file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileScenario {
    /// The scenario's name.
    pub name: String,
    /// What it models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The chance per round that the talks collapse (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<f64>,
    /// The issues, in order.
    pub issues: Vec<FileIssue>,
    /// The parties, in order.
    pub parties: Vec<FileParty>,
}

/// An issue in a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileIssue {
    /// Name.
    pub name: String,
    /// Kind (default: discrete).
    #[serde(rename = "type", default, skip_serializing_if = "is_discrete")]
    pub kind: IssueType,
    /// Discrete values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// Lower end (integer, real).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Number>,
    /// Upper end (integer, real).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Number>,
    /// Grid points of a real issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
}

pub(super) fn is_discrete(kind: &IssueType) -> bool {
    *kind == IssueType::Discrete
}

pub(super) fn default_discount() -> f64 {
    1.0
}

pub(super) fn is_one(x: &f64) -> bool {
    *x == 1.0
}

/// A party in a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileParty {
    /// Name.
    pub name: String,
    /// Reservation value (default 0); not with `alternative`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<f64>,
    /// Discount factor (default 1).
    #[serde(default = "default_discount", skip_serializing_if = "is_one")]
    pub discount: f64,
    /// The alternative to a deal as a lottery over time; not with `reservation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternative: Option<FileAlternative>,
    /// `[[parties.red_lines]]`: packages the party never accepts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub red_lines: Vec<FileRedLine>,
    /// A private briefing: what this party's negotiator should know (shown only in its
    /// own room).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub briefing: Option<String>,
    /// The utility function; none in an agenda, where the party's seat sets its own
    /// preferences ([`super::Agenda`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utility: Option<FileUtility>,
}

/// `[[parties.red_lines]]`: values of one issue the party never accepts, whatever the
/// rest of the package. At least one of `never`, `below` and `above`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRedLine {
    /// The issue's name.
    pub issue: String,
    /// Values refused: value names, or numbers (as numbers or strings) for integer
    /// and real issues.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub never: Vec<Label>,
    /// Integer and real issues: every value less than this is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
    /// Integer and real issues: every value greater than this is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
}

/// `[parties.alternative]`: the consequences of walking away.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAlternative {
    /// The consequences, each with its chance and its worth over time.
    pub consequences: Vec<FileConsequence>,
}

/// One consequence of walking away.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConsequence {
    /// What it is.
    pub label: String,
    /// Its chance: a number, or `[[t, p], ...]`.
    pub probability: FileCurve,
    /// Its worth: a number, or `[[t, u], ...]`.
    pub utility: FileCurve,
}

/// A number, or a piecewise-linear curve `[[t, y], ...]` over normalised time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a number, or a curve [[t, y], ...] with t from 0 to 1"
)]
pub enum FileCurve {
    /// The same at every time.
    Number(f64),
    /// Breakpoints.
    Points(Vec<[f64; 2]>),
}

impl FileCurve {
    pub(super) fn to_curve(&self) -> Curve {
        match self {
            FileCurve::Number(y) => Curve::Constant(*y),
            FileCurve::Points(points) => {
                Curve::Piecewise(points.iter().map(|&[t, y]| (t, y)).collect())
            }
        }
    }

    pub(super) fn from_curve(curve: &Curve) -> FileCurve {
        match curve {
            Curve::Constant(y) => FileCurve::Number(*y),
            Curve::Piecewise(points) => {
                FileCurve::Points(points.iter().map(|&(t, y)| [t, y]).collect())
            }
        }
    }
}

/// The kind of a utility function.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UtilityKind {
    /// Linear-additive.
    #[default]
    Linear,
    /// Hyper-rectangle constraints.
    HyperRectangles,
}

/// A utility function in a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileUtility {
    /// Kind (default: linear).
    #[serde(default)]
    pub kind: UtilityKind,
    /// Linear: one entry per weighted issue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<FileTerm>,
    /// Hyper-rectangles: the normaliser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Hyper-rectangles: the constraints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rectangles: Vec<FileRectangle>,
}

/// One issue's term of a linear utility function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTerm {
    /// The issue's name.
    pub issue: String,
    /// Its weight.
    pub weight: f64,
    /// Raw evaluation per value name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<OrderedMap<f64>>,
    /// Linear evaluator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear: Option<FileLinear>,
}

/// `e(v) = clamp(slope·(v − min) + offset, 0, 1)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLinear {
    /// Slope.
    pub slope: f64,
    /// Offset.
    pub offset: f64,
}

/// A hyper-rectangle in a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRectangle {
    /// Raw utility when satisfied.
    pub utility: f64,
    /// Issue name → [lo, hi], all must hold.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub include: OrderedMap<[Label; 2]>,
    /// Issue name → [lo, hi], one must be violated.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub exclude: OrderedMap<[Label; 2]>,
}

pub(super) fn is_empty_map<V>(map: &OrderedMap<V>) -> bool {
    map.0.is_empty()
}
