//! XML-RPC bodies: parsing calls and responses into `dxr`'s [`Value`]
//! model, and writing them byte for byte the way Python's `xmlrpc` does
//! (`<?xml version='1.0'?>`, a newline after each element, `<int>`,
//! doubles as `repr()` prints them, base64 in 76-character lines), so a
//! Python peer sees exactly what Python's own server would send.
//!
//! Reading is [`parse`]: one streaming pass that never expands an entity
//! and never nests deeper than [`parse::MAX_DEPTH`].

pub mod parse;

pub use parse::{parse_call, parse_response};

use base64::Engine as _;
use dxr::Value;
use std::fmt::Write as _;

/// An XML-RPC fault: a code and a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `faultCode`.
    pub code: i32,
    /// `faultString`.
    pub string: String,
}

impl Fault {
    /// A fault with code 1 shaped like Python's: `<class 'TypeError'>:message`.
    pub fn python(class: &str, message: impl std::fmt::Display) -> Self {
        Fault {
            code: 1,
            string: format!("<class '{class}'>:{message}"),
        }
    }
}

/// A parsed call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The method name.
    pub method: String,
    /// The arguments.
    pub params: Vec<Value>,
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

/// Escapes `&`, `<` and `>` (all that Python escapes).
fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

/// A double as Python's `repr()` writes it: `1.0`, `0.1`, `1e+16`, `1e-07`, `nan`.
pub fn python_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let debug = format!("{x:?}");
    let Some((mantissa, exp)) = debug.split_once('e') else {
        return debug;
    };
    let (sign, digits) = exp.strip_prefix('-').map_or(("+", exp), |d| ("-", d));
    format!("{mantissa}e{sign}{digits:0>2}")
}

/// Appends one `<value>` the way Python marshals it.
pub fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::Integer(i) => {
            let _ = writeln!(out, "<value><int>{i}</int></value>");
        }
        Value::Long(i) => match i32::try_from(*i) {
            Ok(small) => {
                let _ = writeln!(out, "<value><int>{small}</int></value>");
            }
            Err(_) => {
                let _ = writeln!(out, "<value><i8>{i}</i8></value>");
            }
        },
        Value::Boolean(b) => {
            let _ = writeln!(out, "<value><boolean>{}</boolean></value>", u8::from(*b));
        }
        Value::String(s) => {
            out.push_str("<value><string>");
            escape(s, out);
            out.push_str("</string></value>\n");
        }
        Value::Double(d) => {
            let _ = writeln!(out, "<value><double>{}</double></value>", python_float(*d));
        }
        Value::DateTime(t) => {
            let _ = writeln!(out, "<value><dateTime.iso8601>{t}</dateTime.iso8601></value>");
        }
        Value::Base64(bytes) => {
            out.push_str("<value><base64>\n");
            let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
            for line in encoded.as_bytes().chunks(76) {
                out.push_str(std::str::from_utf8(line).unwrap_or_default());
                out.push('\n');
            }
            out.push_str("</base64></value>\n");
        }
        Value::Struct(members) => {
            out.push_str("<value><struct>\n");
            for (name, value) in members {
                out.push_str("<member>\n<name>");
                escape(name, out);
                out.push_str("</name>\n");
                write_value(value, out);
                out.push_str("</member>\n");
            }
            out.push_str("</struct></value>\n");
        }
        Value::Array(items) => {
            out.push_str("<value><array><data>\n");
            for item in items {
                write_value(item, out);
            }
            out.push_str("</data></array></value>\n");
        }
        Value::Nil => out.push_str("<value><nil/></value>"),
        // dxr's Value may grow variants; none of them can be reached from
        // what this crate builds or parses with its features.
        _ => out.push_str("<value><nil/></value>"),
    }
}

const PROLOG: &str = "<?xml version='1.0'?>\n";

/// A `<methodResponse>` carrying `value`.
pub fn response(value: &Value) -> String {
    let mut out = String::with_capacity(160);
    out.push_str(PROLOG);
    out.push_str("<methodResponse>\n<params>\n<param>\n");
    write_value(value, &mut out);
    out.push_str("</param>\n</params>\n</methodResponse>\n");
    out
}

/// The struct Python writes for a fault (faultCode first).
pub fn fault_value(fault: &Fault) -> Value {
    Value::Struct(
        [
            ("faultCode".to_string(), Value::Integer(fault.code)),
            ("faultString".to_string(), Value::String(fault.string.clone())),
        ]
        .into_iter()
        .collect(),
    )
}

/// A `<methodResponse>` carrying a fault.
pub fn fault_response(fault: &Fault) -> String {
    let mut out = String::with_capacity(320);
    out.push_str(PROLOG);
    out.push_str("<methodResponse>\n<fault>\n");
    write_value(&fault_value(fault), &mut out);
    out.push_str("</fault>\n</methodResponse>\n");
    out
}

/// A `<methodCall>` of `method` with `params`.
pub fn call(method: &str, params: &[Value]) -> String {
    let mut out = String::with_capacity(160);
    out.push_str(PROLOG);
    out.push_str("<methodCall>\n<methodName>");
    escape(method, &mut out);
    out.push_str("</methodName>\n<params>\n");
    for p in params {
        out.push_str("<param>\n");
        write_value(p, &mut out);
        out.push_str("</param>\n");
    }
    out.push_str("</params>\n</methodCall>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_is_byte_for_byte_pythons() {
        assert_eq!(
            response(&Value::Integer(1)),
            "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><int>1</int></value>\n</param>\n</params>\n</methodResponse>\n"
        );
        let f = fault_response(&Fault::python("Exception", "method \"nosuch\" is not supported"));
        assert_eq!(f.len(), 313, "the size of Python's own fault body");
        assert!(f.contains(
            "<value><string>&lt;class 'Exception'&gt;:method \"nosuch\" is not supported</string></value>\n"
        ));
    }

    #[test]
    fn values_marshal_like_python() {
        let one = |v: Value| {
            let mut s = String::new();
            write_value(&v, &mut s);
            s
        };
        assert_eq!(one(Value::Long(2_147_483_648)), "<value><i8>2147483648</i8></value>\n");
        assert_eq!(one(Value::Long(5)), "<value><int>5</int></value>\n");
        assert_eq!(one(Value::Boolean(true)), "<value><boolean>1</boolean></value>\n");
        assert_eq!(
            one(Value::String("a<&>b".into())),
            "<value><string>a&lt;&amp;&gt;b</string></value>\n"
        );
        assert_eq!(one(Value::Nil), "<value><nil/></value>");
        assert_eq!(
            one(Value::Base64(b"hi".to_vec())),
            "<value><base64>\naGk=\n</base64></value>\n"
        );
        assert_eq!(one(Value::Base64(Vec::new())), "<value><base64>\n</base64></value>\n");
        let long = one(Value::Base64(vec![0; 60]));
        assert_eq!(long.lines().nth(1).map(str::len), Some(76));
        assert_eq!(
            one(Value::Array(vec![])),
            "<value><array><data>\n</data></array></value>\n"
        );
    }

    #[test]
    fn doubles_like_repr() {
        for (x, want) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e-7, "1e-07"),
            (1.5e300, "1.5e+300"),
            (1e15, "1000000000000000.0"),
            (-0.0, "-0.0"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(python_float(x), want, "{x}");
        }
    }

    #[test]
    fn calls_round_trip_through_the_parser() {
        let params = vec![
            Value::Integer(7),
            Value::String("straße".into()),
            Value::Array(vec![Value::Double(2.5), Value::Nil]),
            Value::Struct([("k".to_string(), Value::Boolean(false))].into_iter().collect()),
            Value::Long(1 << 40),
        ];
        let body = call("addtogether", &params);
        let parsed = parse_call(body.as_bytes()).expect("parse");
        assert_eq!((parsed.method.as_str(), parsed.params), ("addtogether", params));
        assert_eq!(
            parse_response(response(&Value::Integer(3)).as_bytes()),
            Ok(Ok(Value::Integer(3)))
        );
        let fault = Fault::python("ValueError", "math domain error");
        assert_eq!(parse_response(fault_response(&fault).as_bytes()), Ok(Err(fault)));
    }

    #[test]
    fn hostile_bodies_are_refused_before_parsing() {
        let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><methodCall><methodName>&lol2;</methodName></methodCall>"#;
        assert!(parse_call(laughs.as_bytes()).is_err_and(|e| e.0.contains("DOCTYPE")));
        let entity = "<methodCall><methodName>&xxe;</methodName></methodCall>";
        assert!(parse_call(entity.as_bytes()).is_err_and(|e| e.0.contains("&xxe;")));
        let deep = format!(
            "<methodCall><methodName>m</methodName><params><param>{}",
            "<value><array><data>".repeat(10_000)
        );
        assert!(parse_call(deep.as_bytes()).is_err_and(|e| e.0.contains("deeper")));
        for bad in [
            &b"not xml"[..],
            b"",
            b"<methodCall><methodName>x",
            b"\xff\xfe",
            b"<foo/>",
        ] {
            assert!(parse_call(bad).is_err(), "{bad:?}");
        }
        let fine = "<methodCall><methodName>a&amp;b&#65;</methodName><params/></methodCall>";
        assert_eq!(parse_call(fine.as_bytes()).map(|c| c.method), Ok("a&bA".to_string()));
    }
}
