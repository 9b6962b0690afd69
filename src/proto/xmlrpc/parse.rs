//! Reading XML-RPC bodies in one streaming pass over `quick-xml` events,
//! straight into `dxr`'s [`Value`]s.
//!
//! The pass refuses, before anything could be expanded or recursed on: a
//! DOCTYPE, any entity but the five predefined ones and character
//! references, elements nested deeper than [`MAX_DEPTH`], and anything after
//! the root element. It accepts what Python's unmarshaller accepts: `int`,
//! `i4`, `i1`, `i2`, `i8`, `biginteger`, `boolean` (`0`/`1`), `string`,
//! `double`/`float`, `dateTime.iso8601`, `base64`, `struct`, `array`, `nil`,
//! namespace prefixes (`ex:nil`), and a `<value>` without a type as a string.

use super::{Call, Fault, Malformed};
use base64::Engine as _;
use dxr::Value;
use quick_xml::events::Event;

/// The deepest element nesting accepted in a body.
pub const MAX_DEPTH: usize = 64;

/// One thing the reader saw, with text already unescaped.
#[derive(Debug, PartialEq)]
enum Ev {
    Start(String),
    End,
    Empty(String),
    Text(String),
    Eof,
}

fn bad(what: impl Into<String>) -> Malformed {
    Malformed(what.into())
}

/// A predefined entity or a character reference, resolved; nothing else.
fn resolve(r: &quick_xml::events::BytesRef<'_>) -> Result<char, Malformed> {
    if r.is_char_ref() {
        return r
            .resolve_char_ref()
            .ok()
            .flatten()
            .ok_or_else(|| bad(format!("a bad character reference &{};", &**r)));
    }
    match &**r {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        name => Err(bad(format!(
            "the entity &{name}; is not allowed (nothing is ever expanded)"
        ))),
    }
}

struct Parser<'a> {
    reader: quick_xml::Reader<&'a [u8]>,
    depth: usize,
    /// Text (text events and resolved references) read but not yet handed out.
    text: String,
    /// An element event read after some text, handed out next.
    pending: Option<Ev>,
}

impl<'a> Parser<'a> {
    fn new(xml: &'a str) -> Self {
        Parser {
            reader: quick_xml::Reader::from_str(xml),
            depth: 0,
            text: String::new(),
            pending: None,
        }
    }

    /// The next element event, or a run of text (references resolved).
    fn next(&mut self) -> Result<Ev, Malformed> {
        if let Some(ev) = self.pending.take() {
            return Ok(ev);
        }
        loop {
            let at = self.reader.buffer_position();
            let event = self
                .reader
                .read_event()
                .map_err(|e| bad(format!("not well-formed ({e}) at byte {at}")))?;
            let ev = match event {
                Event::Text(t) => {
                    self.text.push_str(&t.xml10_content());
                    continue;
                }
                Event::CData(c) => {
                    self.text.push_str(&c.xml10_content());
                    continue;
                }
                Event::GeneralRef(r) => {
                    self.text.push(resolve(&r)?);
                    continue;
                }
                Event::DocType(_) => return Err(bad("a DOCTYPE is not allowed (nothing is ever expanded)")),
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => continue,
                Event::Start(e) => {
                    self.depth += 1;
                    if self.depth > MAX_DEPTH {
                        return Err(bad(format!("nested deeper than {MAX_DEPTH} elements")));
                    }
                    Ev::Start(e.local_name().as_ref().to_string())
                }
                Event::End(_) => {
                    self.depth = self.depth.saturating_sub(1);
                    Ev::End
                }
                Event::Empty(e) => Ev::Empty(e.local_name().as_ref().to_string()),
                Event::Eof => Ev::Eof,
            };
            if self.text.is_empty() {
                return Ok(ev);
            }
            self.pending = Some(ev);
            return Ok(Ev::Text(std::mem::take(&mut self.text)));
        }
    }

    /// The next event that is not whitespace.
    fn skip_ws(&mut self) -> Result<Ev, Malformed> {
        match self.next()? {
            Ev::Text(t) if t.trim().is_empty() => self.next(),
            ev => Ok(ev),
        }
    }

    fn expect_start(&mut self, name: &str) -> Result<(), Malformed> {
        match self.skip_ws()? {
            Ev::Start(n) if n == name => Ok(()),
            other => Err(bad(format!("expected <{name}>, found {}", show(&other)))),
        }
    }

    fn expect_end(&mut self, name: &str) -> Result<(), Malformed> {
        match self.skip_ws()? {
            Ev::End => Ok(()),
            other => Err(bad(format!("expected </{name}>, found {}", show(&other)))),
        }
    }

    /// The text of an element whose start was just read, through its end.
    fn text_until_end(&mut self, name: &str) -> Result<String, Malformed> {
        match self.next()? {
            Ev::End => Ok(String::new()),
            Ev::Text(t) => {
                self.expect_end(name)?;
                Ok(t)
            }
            other => Err(bad(format!("unexpected {} inside <{name}>", show(&other)))),
        }
    }

    /// A `<value>` whose start was just read, through its end.
    fn value(&mut self) -> Result<Value, Malformed> {
        let v = match self.next()? {
            Ev::End => return Ok(Value::String(String::new())),
            Ev::Text(t) => match self.next()? {
                Ev::End => return Ok(Value::String(t)),
                Ev::Start(tag) if t.trim().is_empty() => self.typed(&tag)?,
                Ev::Empty(tag) if t.trim().is_empty() => empty_typed(&tag)?,
                other => return Err(bad(format!("unexpected {} in a <value>", show(&other)))),
            },
            Ev::Start(tag) => self.typed(&tag)?,
            Ev::Empty(tag) => empty_typed(&tag)?,
            other => return Err(bad(format!("unexpected {} in a <value>", show(&other)))),
        };
        self.expect_end("value")?;
        Ok(v)
    }

    /// A typed value whose start tag `tag` was just read, through its end.
    fn typed(&mut self, tag: &str) -> Result<Value, Malformed> {
        Ok(match tag {
            "int" | "i4" | "i1" | "i2" | "i8" | "biginteger" => {
                let text = self.text_until_end(tag)?;
                let n: i64 = text
                    .trim()
                    .parse()
                    .map_err(|_| bad(format!("invalid literal for int(): '{}'", text.trim())))?;
                i32::try_from(n).map_or(Value::Long(n), Value::Integer)
            }
            "boolean" => match self.text_until_end(tag)?.as_str() {
                "0" => Value::Boolean(false),
                "1" => Value::Boolean(true),
                _ => return Err(bad("bad boolean value")),
            },
            "string" => Value::String(self.text_until_end(tag)?),
            "double" | "float" => {
                let text = self.text_until_end(tag)?;
                Value::Double(
                    text.trim()
                        .parse()
                        .map_err(|_| bad(format!("could not convert string to float: '{}'", text.trim())))?,
                )
            }
            "dateTime.iso8601" => {
                let text = self.text_until_end(tag)?;
                Value::DateTime(
                    text.trim()
                        .parse()
                        .map_err(|_| bad(format!("a bad dateTime.iso8601 '{}'", text.trim())))?,
                )
            }
            "base64" => {
                let text: String = self.text_until_end(tag)?.split_ascii_whitespace().collect();
                Value::Base64(
                    base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .map_err(|e| bad(format!("bad base64 ({e})")))?,
                )
            }
            "nil" => {
                self.text_until_end(tag)?;
                Value::Nil
            }
            "struct" => self.members()?,
            "array" => self.items()?,
            other => return Err(bad(format!("unknown tag '{other}'"))),
        })
    }

    /// The members of a `<struct>` whose start was just read, through its end.
    fn members(&mut self) -> Result<Value, Malformed> {
        let mut members = std::collections::BTreeMap::new();
        loop {
            match self.skip_ws()? {
                Ev::End => return Ok(Value::Struct(members)),
                Ev::Start(m) if m == "member" => {
                    self.expect_start("name")?;
                    let name = self.text_until_end("name")?;
                    self.expect_start("value")?;
                    let value = self.value()?;
                    self.expect_end("member")?;
                    members.insert(name, value);
                }
                other => return Err(bad(format!("expected <member>, found {}", show(&other)))),
            }
        }
    }

    /// The items of an `<array>` whose start was just read, through its end.
    fn items(&mut self) -> Result<Value, Malformed> {
        let mut items = Vec::new();
        match self.skip_ws()? {
            Ev::Empty(d) if d == "data" => {}
            Ev::Start(d) if d == "data" => loop {
                match self.skip_ws()? {
                    Ev::End => break,
                    Ev::Start(v) if v == "value" => items.push(self.value()?),
                    Ev::Empty(v) if v == "value" => items.push(Value::String(String::new())),
                    other => return Err(bad(format!("expected <value>, found {}", show(&other)))),
                }
            },
            other => return Err(bad(format!("expected <data>, found {}", show(&other)))),
        }
        self.expect_end("array")?;
        Ok(Value::Array(items))
    }

    /// The root element's start; returns its name.
    fn root(&mut self) -> Result<String, Malformed> {
        match self.skip_ws()? {
            Ev::Start(name) => Ok(name),
            Ev::Eof => Err(bad("no element found")),
            other => Err(bad(format!("syntax error: {} before the root element", show(&other)))),
        }
    }

    /// After the root's end: nothing but whitespace may follow.
    fn finish(&mut self) -> Result<(), Malformed> {
        match self.skip_ws()? {
            Ev::Eof => Ok(()),
            _ => Err(bad("junk after document element")),
        }
    }
}

fn empty_typed(tag: &str) -> Result<Value, Malformed> {
    Ok(match tag {
        "nil" => Value::Nil,
        "string" => Value::String(String::new()),
        "base64" => Value::Base64(Vec::new()),
        "struct" => Value::Struct(Default::default()),
        other => return Err(bad(format!("unknown or empty tag '{other}'"))),
    })
}

fn show(ev: &Ev) -> String {
    match ev {
        Ev::Start(n) => format!("<{n}>"),
        Ev::Empty(n) => format!("<{n}/>"),
        Ev::End => "a closing tag".into(),
        Ev::Text(_) => "text".into(),
        Ev::Eof => "the end of the document (no element found)".into(),
    }
}

fn text_of(body: &[u8]) -> Result<&str, Malformed> {
    std::str::from_utf8(body).map_err(|e| bad(format!("not well-formed (invalid UTF-8 at byte {})", e.valid_up_to())))
}

/// Parses a `<methodCall>` body.
///
/// # Errors
/// [`Malformed`] for anything that is not a well-formed, entity-free call.
pub fn parse_call(body: &[u8]) -> Result<Call, Malformed> {
    let mut p = Parser::new(text_of(body)?);
    let root = p.root()?;
    if root != "methodCall" {
        return Err(bad(format!("expected <methodCall>, found <{root}>")));
    }
    let (mut method, mut params) = (None, Vec::new());
    loop {
        match p.skip_ws()? {
            Ev::End => break,
            Ev::Start(n) if n == "methodName" => method = Some(p.text_until_end("methodName")?),
            Ev::Empty(n) if n == "params" => {}
            Ev::Start(n) if n == "params" => loop {
                match p.skip_ws()? {
                    Ev::End => break,
                    Ev::Start(n) if n == "param" => {
                        p.expect_start("value")?;
                        params.push(p.value()?);
                        p.expect_end("param")?;
                    }
                    other => return Err(bad(format!("expected <param>, found {}", show(&other)))),
                }
            },
            other => return Err(bad(format!("unexpected {} in <methodCall>", show(&other)))),
        }
    }
    p.finish()?;
    Ok(Call {
        method: method.ok_or_else(|| bad("no <methodName>"))?,
        params,
    })
}

/// Parses a `<methodResponse>` body: the value, or the fault.
///
/// # Errors
/// [`Malformed`] when it is neither.
pub fn parse_response(body: &[u8]) -> Result<Result<Value, Fault>, Malformed> {
    let mut p = Parser::new(text_of(body)?);
    let root = p.root()?;
    if root != "methodResponse" {
        return Err(bad(format!("expected <methodResponse>, found <{root}>")));
    }
    let outcome = match p.skip_ws()? {
        Ev::Start(n) if n == "params" => {
            p.expect_start("param")?;
            p.expect_start("value")?;
            let v = p.value()?;
            p.expect_end("param")?;
            p.expect_end("params")?;
            Ok(v)
        }
        Ev::Start(n) if n == "fault" => {
            p.expect_start("value")?;
            let v = p.value()?;
            p.expect_end("fault")?;
            Err(fault_of(v)?)
        }
        other => return Err(bad(format!("expected <params> or <fault>, found {}", show(&other)))),
    };
    p.expect_end("methodResponse")?;
    p.finish()?;
    Ok(outcome)
}

fn fault_of(v: Value) -> Result<Fault, Malformed> {
    let Value::Struct(m) = v else {
        return Err(bad("a <fault> that is not a struct"));
    };
    match (m.get("faultCode"), m.get("faultString")) {
        (Some(Value::Integer(code)), Some(Value::String(s))) => Ok(Fault {
            code: *code,
            string: s.clone(),
        }),
        _ => Err(bad("a <fault> without faultCode and faultString")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(xml: &str) -> Result<Value, Malformed> {
        let body = format!("<methodCall><methodName>m</methodName><params><param>{xml}</param></params></methodCall>");
        parse_call(body.as_bytes()).map(|c| c.params.into_iter().next().unwrap_or(Value::Nil))
    }

    #[test]
    fn every_type_python_sends_or_accepts() {
        assert_eq!(value_of("<value><int> +5 </int></value>"), Ok(Value::Integer(5)));
        assert_eq!(value_of("<value><i8>4294967296</i8></value>"), Ok(Value::Long(1 << 32)));
        assert_eq!(value_of("<value><ex:i1>3</ex:i1></value>"), Ok(Value::Integer(3)));
        assert_eq!(
            value_of("<value><boolean>1</boolean></value>"),
            Ok(Value::Boolean(true))
        );
        assert!(value_of("<value><boolean>2</boolean></value>").is_err());
        assert_eq!(
            value_of("<value>plain &amp; text</value>"),
            Ok(Value::String("plain & text".into()))
        );
        assert_eq!(value_of("<value>   </value>"), Ok(Value::String("   ".into())));
        assert_eq!(value_of("<value></value>"), Ok(Value::String(String::new())));
        assert_eq!(
            value_of("<value><string>a\r\nb</string></value>"),
            Ok(Value::String("a\nb".into()))
        );
        assert_eq!(
            value_of("<value><double>1e+16</double></value>"),
            Ok(Value::Double(1e16))
        );
        assert_eq!(
            value_of("<value><base64>\naGk=\n</base64></value>"),
            Ok(Value::Base64(b"hi".to_vec()))
        );
        assert_eq!(value_of("<value><nil/></value>"), Ok(Value::Nil));
        assert_eq!(value_of("<value><ex:nil/></value>"), Ok(Value::Nil));
        assert!(matches!(
            value_of("<value><dateTime.iso8601>20261201T01:02:03</dateTime.iso8601></value>"),
            Ok(Value::DateTime(_))
        ));
        assert_eq!(
            value_of("<value>\n<array><data>\n<value><int>1</int></value>\n</data></array>\n</value>"),
            Ok(Value::Array(vec![Value::Integer(1)]))
        );
        assert_eq!(
            value_of("<value><array><data/></array></value>"),
            Ok(Value::Array(vec![]))
        );
        let s = value_of("<value><struct><member><name>k</name><value><int>1</int></value></member></struct></value>");
        assert!(matches!(s, Ok(Value::Struct(m)) if m.get("k") == Some(&Value::Integer(1))));
        assert!(value_of("<value><foo>1</foo></value>").is_err_and(|e| e.0.contains("unknown tag 'foo'")));
    }

    #[test]
    fn structure_is_checked() {
        for bad in [
            "<methodCall><methodName>x</methodName></methodCall><extra/>",
            "<methodCall><methodName>x</methodName></methodCall>junk",
            "<methodCall><params/></methodCall>",
            "<methodCall><methodName>x</methodName><params><param><int>1</int></param></params></methodCall>",
            "<methodCall><methodName>x</methodName>",
            "text",
            "",
        ] {
            assert!(parse_call(bad.as_bytes()).is_err(), "{bad}");
        }
        let ok = "<?xml version='1.0'?>\n<!-- hi --><methodCall>\n<methodName>a&#65;&lt;</methodName>\n<params>\n</params>\n</methodCall>\n";
        assert_eq!(parse_call(ok.as_bytes()).map(|c| c.method), Ok("aA<".into()));
    }
}
