//! `rpc server` and `rpc call`.

use super::Out;
use crate::cli::{RpcCallArgs, RpcServerArgs};
use netlab::client::rpc::{self, CallError, RpcClient, Url};
use netlab::error::{Reported, UsageError};
use netlab::rpc::RpcOptions;

pub fn server(args: RpcServerArgs) -> anyhow::Result<()> {
    let opts = RpcOptions {
        max_body: args.max_body,
    };
    // Responses are one write each; nodelay keeps the reply to a pipelined
    // request from waiting for the ACK of the one before.
    super::server::serve(
        &args.server,
        super::server::Speaks::HTTP,
        netlab::proto::factory(move |info| netlab::rpc::session(opts, std::time::SystemTime::now, info)),
    )
}

pub fn call(args: RpcCallArgs) -> anyhow::Result<()> {
    let url = Url::parse(&args.url).map_err(UsageError)?;
    let params: Vec<_> = args.args.iter().map(|a| rpc::arg_value(a)).collect();
    let tls = url.tls;
    let mut client = RpcClient::new(url, args.timeout)?;
    if tls {
        client = client.with_trust(super::trust(args.cacert.as_deref(), args.insecure));
    }
    // An I/O failure goes out as itself, so refused (69) and timeouts keep their exit codes.
    let outcome = client.call(&args.method, &params).map_err(|e| match e {
        CallError::Io(io) => anyhow::Error::from(io),
        other => other.into(),
    })?;
    match outcome {
        Ok(value) => Out::new().json(&rpc::to_json(&value))?,
        Err(fault) => {
            netlab::logging::stderr_line(format_args!("fault {}: {}", fault.code, fault.string));
            return Err(Reported.into());
        }
    }
    Ok(())
}
