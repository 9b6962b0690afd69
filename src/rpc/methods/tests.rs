//! The method table against the answers Python's server gives.

use super::*;

fn int(i: i32) -> Value {
    Value::Integer(i)
}
fn s(t: &str) -> Value {
    Value::String(t.into())
}
fn fault(r: Result<Value, Fault>) -> String {
    r.err().map(|f| f.string).unwrap_or_default()
}

#[test]
fn addtogether_adds_like_python() {
    assert_eq!(
        dispatch("addtogether", &[int(20), int(30), int(4), int(1)]),
        Ok(int(55))
    );
    assert_eq!(dispatch("addtogether", &[s("x"), s("ÿ"), s("z")]), Ok(s("xÿz")));
    assert_eq!(
        dispatch("addtogether", &[int(1), Value::Double(2.5)]),
        Ok(Value::Double(3.5))
    );
    assert_eq!(
        dispatch("addtogether", &[Value::Boolean(true), Value::Boolean(true)]),
        Ok(int(2))
    );
    assert_eq!(
        dispatch("addtogether", &[Value::Array(vec![int(1)]), Value::Array(vec![int(2)])]),
        Ok(Value::Array(vec![int(1), int(2)]))
    );
    assert_eq!(
        dispatch("addtogether", &[int(i32::MAX), int(1)]),
        Ok(Value::Long(2_147_483_648))
    );
    assert_eq!(dispatch("addtogether", &[Value::Nil]), Ok(Value::Nil));
    assert_eq!(
        fault(dispatch("addtogether", &[])),
        "<class 'TypeError'>:reduce() of empty iterable with no initial value"
    );
    assert_eq!(
        fault(dispatch("addtogether", &[int(1), s("a")])),
        "<class 'TypeError'>:unsupported operand type(s) for +: 'int' and 'str'"
    );
    assert_eq!(
        fault(dispatch("addtogether", &[s("a"), int(1)])),
        "<class 'TypeError'>:can only concatenate str (not \"int\") to str"
    );
    assert_eq!(
        fault(dispatch("addtogether", &[Value::Long(i64::MAX), Value::Long(1)])),
        "<class 'OverflowError'>:int exceeds XML-RPC limits"
    );
}

fn roots(a: f64, b: f64, c: f64) -> Result<Vec<f64>, String> {
    match dispatch("quadratic", &[Value::Double(a), Value::Double(b), Value::Double(c)]) {
        Ok(Value::Array(v)) => {
            let mut r: Vec<f64> = v
                .into_iter()
                .filter_map(|x| if let Value::Double(d) = x { Some(d) } else { None })
                .collect();
            r.sort_by(f64::total_cmp);
            Ok(r)
        }
        other => Err(fault(other)),
    }
}

#[test]
fn quadratic_is_right_where_the_tutorial_was_not() {
    assert_eq!(roots(1.0, -3.0, 2.0), Ok(vec![1.0, 2.0]));
    assert_eq!(
        roots(2.0, -4.0, 0.0),
        Ok(vec![0.0, 2.0]),
        "the tutorial's /2.0*a gives 0 and 8"
    );
    assert_eq!(roots(1.0, 2.0, 1.0), Ok(vec![-1.0]), "a double root once");
    assert_eq!(roots(1.0, 0.0, -1.0), Ok(vec![-1.0, 1.0]));
    assert_eq!(roots(1.0, 0.0, 0.0), Ok(vec![0.0]));
    let tiny = roots(1.0, -1e8, 1.0).unwrap_or_default();
    assert!((tiny[0] - 1e-8).abs() < 1e-20, "no cancellation: {tiny:?}");
    assert_eq!(
        roots(1.0, 0.0, 1.0),
        Err("<class 'ValueError'>:math domain error".into())
    );
    assert_eq!(
        roots(0.0, 1.0, 1.0),
        Err("<class 'ZeroDivisionError'>:float division by zero".into())
    );
    assert!(dispatch("quadratic", &[int(1), int(-3), int(2)]).is_ok());
    assert_eq!(
        fault(dispatch("quadratic", &[int(1), int(2)])),
        "<class 'TypeError'>:quadratic() missing 1 required positional argument: 'c'"
    );
    assert_eq!(
        fault(dispatch("quadratic", &[])),
        "<class 'TypeError'>:quadratic() missing 3 required positional arguments: 'a', 'b', and 'c'"
    );
    assert_eq!(
        fault(dispatch("quadratic", &[int(1), int(2), int(3), int(4)])),
        "<class 'TypeError'>:quadratic() takes 3 positional arguments but 4 were given"
    );
}

#[test]
fn upper_and_unknown_methods() {
    assert_eq!(dispatch("upper", &[s("straße")]), Ok(s("STRASSE")));
    assert_eq!(
        fault(dispatch("upper", &[int(5)])),
        "<class 'AttributeError'>:'int' object has no attribute 'upper'"
    );
    assert_eq!(
        fault(dispatch("upper", &[s("a"), s("b")])),
        "<class 'TypeError'>:upper() takes 1 positional argument but 2 were given"
    );
    assert_eq!(
        fault(dispatch("nosuch", &[])),
        "<class 'Exception'>:method \"nosuch\" is not supported"
    );
}

#[test]
fn introspection() {
    let Ok(Value::Array(names)) = dispatch("system.listMethods", &[]) else {
        panic!("a list")
    };
    let names: Vec<String> = names.into_iter().map(|v| display(&v)).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(names.contains(&"system.multicall".to_string()) && names.contains(&"upper".to_string()));
    assert!(matches!(dispatch("system.methodHelp", &[s("upper")]), Ok(Value::String(h)) if h.contains("uppercase")));
    assert_eq!(dispatch("system.methodHelp", &[s("nosuch")]), Ok(s("")));
    assert_eq!(
        dispatch("system.methodSignature", &[s("upper")]),
        Ok(s("signatures not supported"))
    );
}

fn entry(name: Value, params: Value) -> Value {
    Value::Struct(
        [("methodName".to_string(), name), ("params".to_string(), params)]
            .into_iter()
            .collect(),
    )
}

#[test]
fn multicall_answers_each_call_and_faults_each_failure() {
    let calls = Value::Array(vec![
        entry(s("addtogether"), Value::Array(vec![int(1), int(2)])),
        entry(s("nosuch"), Value::Array(vec![])),
        entry(s("upper"), Value::Array(vec![s("x")])),
    ]);
    let Ok(Value::Array(results)) = dispatch("system.multicall", &[calls]) else {
        panic!("results")
    };
    assert_eq!(results[0], Value::Array(vec![int(3)]));
    assert_eq!(
        results[1],
        fault_value(&Fault::python("Exception", "method \"nosuch\" is not supported"))
    );
    assert_eq!(results[2], Value::Array(vec![s("X")]));
    assert_eq!(
        fault(dispatch("system.multicall", &[Value::Array(vec![int(5)])])),
        "<class 'TypeError'>:'int' object is not subscriptable"
    );
    let nested = entry(
        s("system.multicall"),
        Value::Array(vec![Value::Array(vec![entry(
            s("addtogether"),
            Value::Array(vec![int(1), int(2)]),
        )])]),
    );
    assert_eq!(
        dispatch("system.multicall", &[Value::Array(vec![nested])]),
        Ok(Value::Array(vec![Value::Array(vec![Value::Array(vec![
            Value::Array(vec![int(3)])
        ])])]))
    );
}
