//! `http server` and `http get`.

use super::{Out, RawOut};
use crate::cli::{HttpGetArgs, HttpServerArgs};
use anyhow::Context;
use netlab::client::http::{self, GetError, GetOptions};
use netlab::client::rpc::Url;
use netlab::error::{Reported, UsageError};
use netlab::proto::http::ResponseHead;
use netlab::proto::http::server::{HttpOptions, HttpSession};
use netlab::web::{FileOptions, FileServer};
use std::io::{self, Write};
use std::time::SystemTime;

pub fn server(args: HttpServerArgs) -> anyhow::Result<()> {
    let files = FileServer::new(&FileOptions {
        root: args.dir.clone(),
        listing: !args.no_listing,
        follow_symlinks: args.follow_symlinks,
    })
    .map_err(|e| UsageError(format!("cannot serve '{}': {e}", args.dir.display())))?;
    tracing::info!(root = %files.root().display(), "serving");
    let opts = HttpOptions {
        max_body: args.max_body,
        head_timeout: args.head_timeout,
    };
    // Head and small bodies go out in one write; nodelay keeps a pipelined
    // response, or a body's last piece, from waiting for an ACK.
    super::server::serve(
        &args.server,
        super::server::Speaks::HTTP,
        netlab::proto::factory(move |info| HttpSession::new(files.clone(), opts, SystemTime::now, info)),
    )
}

pub fn get(args: HttpGetArgs) -> anyhow::Result<()> {
    let url = Url::parse_with_path(&args.url, "/").map_err(UsageError)?;
    // Said on stderr only where TLS is spoken (a redirect to https trusts the same).
    let trust = if url.tls {
        super::trust(args.cacert.as_deref(), args.insecure)
    } else {
        super::trust_quietly(args.cacert.as_deref(), args.insecure)
    };
    let opts = GetOptions {
        head: args.head,
        follow: args.location,
        max_size: args.max_size as u64,
        timeout: args.timeout,
        trust,
    };
    let show_heads = (args.include || args.head) && !args.json;
    let mut on_head = |head: &ResponseHead| {
        if show_heads {
            RawOut::new().write_all(head_text(head).as_bytes())?;
        }
        Ok(())
    };
    let fetched = match (&args.output, args.json || args.head) {
        (_, true) => http::get(&url, &opts, &mut on_head, &mut io::sink()),
        (Some(path), false) => {
            let file = std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
            let mut file = io::BufWriter::new(file);
            let got = http::get(&url, &opts, &mut on_head, &mut file);
            file.flush()?;
            got
        }
        (None, false) => http::get(&url, &opts, &mut on_head, &mut RawOut::new()),
    }
    .map_err(|e| match e {
        GetError::Io(io) => anyhow::Error::from(io),
        other => other.into(),
    })?;
    if args.json {
        let headers: Vec<_> = fetched
            .head
            .headers
            .iter()
            .map(|(n, v)| serde_json::json!([n, v]))
            .collect();
        Out::new().json(&serde_json::json!({
            "status": fetched.head.status,
            "reason": fetched.head.reason,
            "headers": headers,
            "body_bytes": fetched.body_bytes,
            "elapsed_us": u64::try_from(fetched.elapsed.as_micros()).unwrap_or(u64::MAX),
        }))?;
    }
    if fetched.head.status >= 400 {
        netlab::logging::stderr_line(format_args!(
            "netlab: error: HTTP {} {}",
            fetched.head.status, fetched.head.reason
        ));
        return Err(Reported.into());
    }
    Ok(())
}

/// The status line and headers as they came, and the blank line.
fn head_text(head: &ResponseHead) -> String {
    let mut text = format!("HTTP/1.{} {} {}\r\n", head.minor, head.status, head.reason);
    for (name, value) in &head.headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text
}
