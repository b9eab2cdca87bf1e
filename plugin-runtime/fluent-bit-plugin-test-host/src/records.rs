//! Log records as Fluent Bit's log-event decoder accepts them (`docs/fluent-bit-abi.md` section 7), and helpers
//! to build flush payloads in every accepted shape.

use rmpv::Value;

/// Counts from [`validate_records`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordStats {
    /// Log records (group markers excluded).
    pub records: usize,
    /// Group start/end markers.
    pub group_markers: usize,
}

/// A record timestamp in one of the three encodings Fluent Bit accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Timestamp {
    /// msgpack ext type 0, 8 bytes: big-endian u32 seconds + u32 nanoseconds (preferred).
    EventTime {
        /// Seconds.
        secs: u32,
        /// Nanoseconds.
        nanos: u32,
    },
    /// A non-negative integer of seconds.
    Int(u64),
    /// A float64 of seconds.
    Float(f64),
}

impl Timestamp {
    fn to_value(self) -> Value {
        match self {
            Self::EventTime { secs, nanos } => {
                let mut b = Vec::with_capacity(8);
                b.extend_from_slice(&secs.to_be_bytes());
                b.extend_from_slice(&nanos.to_be_bytes());
                Value::Ext(0, b)
            }
            Self::Int(s) => Value::from(s),
            Self::Float(f) => Value::F64(f),
        }
    }
}

fn map(kv: &[(&str, Value)]) -> Value {
    Value::Map(
        kv.iter()
            .map(|(k, v)| (Value::from(*k), v.clone()))
            .collect(),
    )
}

/// Appends `[[ts, {meta}], {body}]` (the 5.x default shape) to `out`.
pub fn push_v2(out: &mut Vec<u8>, ts: Timestamp, meta: &[(&str, Value)], body: &[(&str, Value)]) {
    let v = Value::Array(vec![
        Value::Array(vec![ts.to_value(), map(meta)]),
        map(body),
    ]);
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(out, &v);
}

/// Appends `[ts, {body}]` (the legacy/forward shape) to `out`.
pub fn push_legacy(out: &mut Vec<u8>, ts: Timestamp, body: &[(&str, Value)]) {
    let v = Value::Array(vec![ts.to_value(), map(body)]);
    let _ = rmpv::encode::write_value(out, &v);
}

/// Appends a group start (`start = true`) or end marker with the given group metadata/body.
pub fn push_group_marker(
    out: &mut Vec<u8>,
    start: bool,
    meta: &[(&str, Value)],
    body: &[(&str, Value)],
) {
    let secs = if start { 0xFFFF_FFFF } else { 0xFFFF_FFFE };
    push_v2(out, Timestamp::EventTime { secs, nanos: 0 }, meta, body);
}

/// One decoded record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The timestamp as encoded.
    pub timestamp: Timestamp,
    /// The metadata map (empty map for the legacy shape).
    pub metadata: Value,
    /// The body map.
    pub body: Value,
}

impl Record {
    /// True for group start/end markers.
    pub fn is_group_marker(&self) -> bool {
        matches!(
            self.timestamp,
            Timestamp::EventTime {
                secs: 0xFFFF_FFFF | 0xFFFF_FFFE,
                nanos: 0
            }
        )
    }

    /// `body[key]` as a string, for assertions.
    pub fn body_str(&self, key: &str) -> Option<&str> {
        self.body
            .as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .and_then(|(_, v)| v.as_str())
    }
}

fn timestamp(v: &Value) -> Result<Timestamp, String> {
    match v {
        Value::Integer(i) => i
            .as_u64()
            .map(Timestamp::Int)
            .ok_or_else(|| "negative integer timestamp".to_owned()),
        Value::F64(f) => Ok(Timestamp::Float(*f)),
        Value::Ext(0, b) if b.len() == 8 => Ok(Timestamp::EventTime {
            secs: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            nanos: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        }),
        Value::Ext(t, b) => Err(format!(
            "timestamp is ext type {t} with {} bytes (only ext 0 with 8 bytes is an EventTime)",
            b.len()
        )),
        other => Err(format!("timestamp is {}", kind(other))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "a boolean",
        Value::Integer(_) => "an integer",
        Value::F32(_) => "a float32",
        Value::F64(_) => "a float64",
        Value::String(_) => "a string",
        Value::Binary(_) => "binary",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
        Value::Ext(..) => "an ext",
    }
}

fn record(v: Value) -> Result<Record, String> {
    let Value::Array(mut a) = v else {
        return Err(format!("record is {}, not a 2-element array", kind(&v)));
    };
    if a.len() != 2 {
        return Err(format!("record array has {} elements, not 2", a.len()));
    }
    let body = a.pop().unwrap_or(Value::Nil);
    let head = a.pop().unwrap_or(Value::Nil);
    if !body.is_map() {
        return Err(format!("record body is {}, not a map", kind(&body)));
    }
    let (timestamp, metadata) = match head {
        Value::Array(mut h) => {
            if h.len() != 2 {
                return Err(format!(
                    "record header has {} elements, not [timestamp, metadata]",
                    h.len()
                ));
            }
            let meta = h.pop().unwrap_or(Value::Nil);
            if !meta.is_map() {
                return Err(format!("record metadata is {}, not a map", kind(&meta)));
            }
            (timestamp(&h[0])?, meta)
        }
        other => (timestamp(&other)?, Value::Map(Vec::new())),
    };
    Ok(Record {
        timestamp,
        metadata,
        body,
    })
}

/// Decodes concatenated records; errors name the record index and byte offset.
pub fn decode_records(mut data: &[u8]) -> Result<Vec<Record>, String> {
    let total = data.len();
    let mut out = Vec::new();
    while !data.is_empty() {
        let offset = total - data.len();
        let v = rmpv::decode::read_value(&mut data).map_err(|e| {
            format!(
                "record {} at byte {offset}: invalid msgpack: {e}",
                out.len()
            )
        })?;
        out.push(record(v).map_err(|e| format!("record {} at byte {offset}: {e}", out.len()))?);
    }
    Ok(out)
}

/// Checks that `data` is a sequence of records of the accepted shapes and counts them.
pub fn validate_records(data: &[u8]) -> Result<RecordStats, String> {
    let mut s = RecordStats::default();
    for r in decode_records(data)? {
        if r.is_group_marker() {
            s.group_markers += 1;
        } else {
            s.records += 1;
        }
    }
    Ok(s)
}
