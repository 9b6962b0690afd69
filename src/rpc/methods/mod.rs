//! The method table and dispatch, shaped like Python's `SimpleXMLRPCServer`
//! with its introspection and multicall functions registered: the same
//! method names, the same fault strings (`<class 'TypeError'>:...`, code 1),
//! the same answers from `system.*`. Pure functions of their arguments.

use crate::proto::answer::Answer;
use crate::proto::xmlrpc::{Fault, fault_value};
use dxr::Value;

/// How deep `system.multicall` may nest inside itself.
const MAX_NESTING: u32 = 8;

type Run = fn(&[Value], u32) -> Result<Value, Fault>;

/// One method: its name, its help text, its body.
struct Method {
    name: &'static str,
    help: &'static str,
    run: Run,
}

const METHODS: &[Method] = &[
    Method {
        name: "addtogether",
        help: "Add together everything in the list `things`: numbers are summed, strings joined, arrays concatenated.",
        run: addtogether,
    },
    Method {
        name: "quadratic",
        help: "Determine `x` values satisfying: `a` * x*x + `b` * x + c == 0 (the distinct real roots).",
        run: quadratic,
    },
    Method {
        name: "system.listMethods",
        help: "system.listMethods() => ['addtogether', 'quadratic', ...]\n\nReturns a list of the methods this server supports.",
        run: list_methods,
    },
    Method {
        name: "system.methodHelp",
        help: "system.methodHelp('upper') => \"Return ...\"\n\nReturns a string documenting the named method.",
        run: method_help,
    },
    Method {
        name: "system.methodSignature",
        help: "system.methodSignature('add') => [double, int, int]\n\nReturns a list describing the signature of a method.\n\nThis server does NOT support system.methodSignature.",
        run: method_signature,
    },
    Method {
        name: "system.multicall",
        help: "system.multicall([{'methodName': 'add', 'params': [2, 2]}, ...]) => [[4], ...]\n\nRuns several calls packed into one request; each success is a one-element\narray, each failure a {faultCode, faultString} struct.",
        run: multicall,
    },
    Method {
        name: "upper",
        help: "Return the string `s` in uppercase (Unicode, as Python's str.upper() does).",
        run: upper,
    },
];

/// Calls `method` with `params`.
///
/// # Errors
/// A [`Fault`] for an unknown method, wrong arguments, or a failure inside it.
pub fn dispatch(method: &str, params: &[Value]) -> Result<Value, Fault> {
    call(method, params, 0)
}

fn call(method: &str, params: &[Value], nesting: u32) -> Result<Value, Fault> {
    match METHODS.iter().find(|m| m.name == method) {
        Some(m) => (m.run)(params, nesting),
        None => Err(Fault::python(
            "Exception",
            format!("method \"{method}\" is not supported"),
        )),
    }
}

/// The name Python would give the type of `v`.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) | Value::Long(_) => "int",
        Value::Boolean(_) => "bool",
        Value::String(_) => "str",
        Value::Double(_) => "float",
        Value::DateTime(_) => "DateTime",
        Value::Base64(_) => "Binary",
        Value::Struct(_) => "dict",
        Value::Array(_) => "list",
        _ => "NoneType",
    }
}

/// Python's arity check: `name() missing 2 required positional arguments:
/// 'b' and 'c'` or `name() takes 3 positional arguments but 4 were given`.
fn arity(name: &str, names: &[&str], given: usize) -> Result<(), Fault> {
    if given > names.len() {
        let n = names.len();
        let s = if n == 1 { "" } else { "s" };
        let was = if given == 1 { "was" } else { "were" };
        return Err(Fault::python(
            "TypeError",
            format!("{name}() takes {n} positional argument{s} but {given} {was} given"),
        ));
    }
    let missing: Vec<String> = names.iter().skip(given).map(|n| format!("'{n}'")).collect();
    let list = match missing.as_slice() {
        [] => return Ok(()),
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
    };
    let s = if missing.len() == 1 { "" } else { "s" };
    Err(Fault::python(
        "TypeError",
        format!(
            "{name}() missing {} required positional argument{s}: {list}",
            missing.len()
        ),
    ))
}

/// Python's `+` on two XML-RPC values, with integers kept exact.
#[derive(Debug, Clone)]
enum Sum {
    Int(i128),
    Float(f64),
    Other(Value),
}

impl Sum {
    fn of(v: &Value) -> Sum {
        match v {
            Value::Integer(i) => Sum::Int(i128::from(*i)),
            Value::Long(i) => Sum::Int(i128::from(*i)),
            Value::Boolean(b) => Sum::Int(i128::from(*b)),
            Value::Double(d) => Sum::Float(*d),
            other => Sum::Other(other.clone()),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Sum::Int(_) => "int",
            Sum::Float(_) => "float",
            Sum::Other(v) => type_name(v),
        }
    }

    fn plus(self, v: &Value) -> Result<Sum, Fault> {
        let overflow = || Fault::python("OverflowError", "int exceeds XML-RPC limits");
        Ok(match (self, Sum::of(v)) {
            (Sum::Int(a), Sum::Int(b)) => Sum::Int(a.checked_add(b).ok_or_else(overflow)?),
            (Sum::Int(a), Sum::Float(b)) => Sum::Float(a as f64 + b),
            (Sum::Float(a), Sum::Int(b)) => Sum::Float(a + b as f64),
            (Sum::Float(a), Sum::Float(b)) => Sum::Float(a + b),
            (Sum::Other(Value::String(mut a)), Sum::Other(Value::String(b))) => {
                a.push_str(&b);
                Sum::Other(Value::String(a))
            }
            (Sum::Other(Value::Array(mut a)), Sum::Other(Value::Array(b))) => {
                a.extend(b);
                Sum::Other(Value::Array(a))
            }
            (Sum::Other(Value::String(_)), b) => {
                return Err(Fault::python(
                    "TypeError",
                    format!("can only concatenate str (not \"{}\") to str", b.name()),
                ));
            }
            (Sum::Other(Value::Array(_)), b) => {
                return Err(Fault::python(
                    "TypeError",
                    format!("can only concatenate list (not \"{}\") to list", b.name()),
                ));
            }
            (a, b) => {
                return Err(Fault::python(
                    "TypeError",
                    format!("unsupported operand type(s) for +: '{}' and '{}'", a.name(), b.name()),
                ));
            }
        })
    }

    /// Back to a value: integers beyond 64 bits cannot travel.
    fn into_value(self) -> Result<Value, Fault> {
        Ok(match self {
            Sum::Int(i) => match (i32::try_from(i), i64::try_from(i)) {
                (Ok(small), _) => Value::Integer(small),
                (Err(_), Ok(big)) => Value::Long(big),
                _ => return Err(Fault::python("OverflowError", "int exceeds XML-RPC limits")),
            },
            Sum::Float(d) => Value::Double(d),
            Sum::Other(v) => v,
        })
    }
}

fn addtogether(things: &[Value], _: u32) -> Result<Value, Fault> {
    let Some((first, rest)) = things.split_first() else {
        return Err(Fault::python(
            "TypeError",
            "reduce() of empty iterable with no initial value",
        ));
    };
    if rest.is_empty() {
        return Ok(first.clone());
    }
    let mut sum = Sum::of(first);
    for v in rest {
        sum = sum.plus(v)?;
    }
    // A sum of booleans is an int in Python, never a bool again.
    sum.into_value()
}

fn number(v: &Value) -> Result<f64, Fault> {
    match Sum::of(v) {
        Sum::Int(i) => Ok(i as f64),
        Sum::Float(d) => Ok(d),
        Sum::Other(v) => Err(Fault::python(
            "TypeError",
            format!("must be real number, not {}", type_name(&v)),
        )),
    }
}

fn quadratic(params: &[Value], _: u32) -> Result<Value, Fault> {
    arity("quadratic", &["a", "b", "c"], params.len())?;
    let [a, b, c] = [0, 1, 2].map(|i| params.get(i).map_or(Ok(0.0), number));
    let (a, b, c) = (a?, b?, c?);
    if a == 0.0 {
        return Err(Fault::python("ZeroDivisionError", "float division by zero"));
    }
    let disc = b * b - 4.0 * a * c;
    if disc < 0.0 || disc.is_nan() {
        return Err(Fault::python("ValueError", "math domain error"));
    }
    // (-b ± √disc) / 2a, computed without subtracting nearly equal numbers:
    // q = -(b + sign(b)·√disc) / 2 gives one root as q/a and the other as c/q.
    let sign = if b < 0.0 { -1.0 } else { 1.0 };
    let q = -0.5 * (b + sign * disc.sqrt());
    let roots = if disc == 0.0 || q == 0.0 {
        vec![-b / (2.0 * a)]
    } else {
        let (r1, r2) = (q / a, c / q);
        if r1 == r2 { vec![r1] } else { vec![r1, r2] }
    };
    Ok(Value::Array(roots.into_iter().map(Value::Double).collect()))
}

fn upper(params: &[Value], _: u32) -> Result<Value, Fault> {
    arity("upper", &["s"], params.len())?;
    match params.first() {
        Some(Value::String(s)) => Ok(Value::String(
            String::from_utf8_lossy(&Answer::Upper.reply_to(s.as_bytes())).into_owned(),
        )),
        Some(other) => Err(Fault::python(
            "AttributeError",
            format!("'{}' object has no attribute 'upper'", type_name(other)),
        )),
        None => Ok(Value::Nil),
    }
}

fn list_methods(params: &[Value], _: u32) -> Result<Value, Fault> {
    arity("SimpleXMLRPCDispatcher.system_listMethods", &["self"], params.len() + 1)?;
    let mut names: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
    names.sort_unstable();
    Ok(Value::Array(
        names.into_iter().map(|n| Value::String(n.into())).collect(),
    ))
}

fn method_help(params: &[Value], _: u32) -> Result<Value, Fault> {
    arity(
        "SimpleXMLRPCDispatcher.system_methodHelp",
        &["self", "method_name"],
        params.len() + 1,
    )?;
    let help = match params.first() {
        Some(Value::String(name)) => METHODS.iter().find(|m| m.name == name).map_or("", |m| m.help),
        _ => "",
    };
    Ok(Value::String(help.into()))
}

fn method_signature(params: &[Value], _: u32) -> Result<Value, Fault> {
    arity(
        "SimpleXMLRPCDispatcher.system_methodSignature",
        &["self", "method_name"],
        params.len() + 1,
    )?;
    Ok(Value::String("signatures not supported".into()))
}

/// `system.multicall`: as Python does it, a malformed entry fails the whole
/// call, while a failing method fails only its own entry.
fn multicall(params: &[Value], nesting: u32) -> Result<Value, Fault> {
    arity(
        "SimpleXMLRPCDispatcher.system_multicall",
        &["self", "call_list"],
        params.len() + 1,
    )?;
    if nesting >= MAX_NESTING {
        return Err(Fault::python("RecursionError", "system.multicall nested too deeply"));
    }
    let calls = match params.first() {
        Some(Value::Array(calls)) => calls,
        Some(other) => {
            return Err(Fault::python(
                "TypeError",
                format!("'{}' object is not iterable", type_name(other)),
            ));
        }
        None => return Ok(Value::Array(Vec::new())),
    };
    let mut results = Vec::with_capacity(calls.len());
    for entry in calls {
        let Value::Struct(fields) = entry else {
            return Err(Fault::python(
                "TypeError",
                format!("'{}' object is not subscriptable", type_name(entry)),
            ));
        };
        let name = fields
            .get("methodName")
            .ok_or_else(|| Fault::python("KeyError", "'methodName'"))?;
        let args = fields
            .get("params")
            .ok_or_else(|| Fault::python("KeyError", "'params'"))?;
        let outcome = match (name, args) {
            (Value::String(name), Value::Array(args)) => call(name, args, nesting + 1),
            (Value::String(name), other) => Err(Fault::python(
                "TypeError",
                format!(
                    "{name}() argument after * must be an iterable, not {}",
                    type_name(other)
                ),
            )),
            (other, _) => Err(Fault::python(
                "Exception",
                format!("method \"{}\" is not supported", display(other)),
            )),
        };
        results.push(match outcome {
            Ok(v) => Value::Array(vec![v]),
            Err(f) => fault_value(&f),
        });
    }
    Ok(Value::Array(results))
}

/// A value as Python's `%s` would show a simple one.
fn display(v: &Value) -> String {
    match v {
        Value::Integer(i) => i.to_string(),
        Value::Long(i) => i.to_string(),
        Value::Boolean(b) => if *b { "True" } else { "False" }.into(),
        Value::Double(d) => crate::proto::xmlrpc::python_float(*d),
        Value::String(s) => s.clone(),
        _ => type_name(v).into(),
    }
}

#[cfg(test)]
mod tests;
