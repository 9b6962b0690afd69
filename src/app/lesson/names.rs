//! Two tools checked against Python: getaddrinfo (`netlab resolve`) and
//! byte order (`netlab byteorder`).

use super::kit::{Run, python};
use super::udp::{count, hex, last_line, netlab};
use serde_json::json;

/// `NAME FAMILY SOCKTYPE PROTO ADDRESS` per `getaddrinfo` result of each
/// name, as Python sees them (argv: the family, then the names).
const GETADDRINFO: &str = "import socket, sys
for name in sys.argv[2:]:
    try:
        rs = socket.getaddrinfo(name, None, int(sys.argv[1]))
    except socket.gaierror:
        rs = []
    for f, t, p, _, a in rs:
        ip = '[%s]' % a[0] if f == socket.AF_INET6 else a[0]
        print(name, f.name, t.name, p, '%s:%d' % (ip, a[1]))
";

/// `netlab resolve NAME [--family F]`: its lines, columns single-spaced.
fn lookup(run: &Run, name: &str, family: Option<&str>) -> anyhow::Result<Vec<String>> {
    let mut args = vec![name];
    args.extend(family.map(|f| ["--family", f]).into_iter().flatten());
    let done = netlab(run, "resolve", &args, b"")?;
    let shown = args.join(" ");
    let ours: Vec<String> = done
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for l in &ours {
        run.say(&format!("netlab resolve {shown}: {l}"));
    }
    if done.code() != 0 {
        run.say(&format!(
            "netlab resolve {shown}: exit {}, {}",
            done.code(),
            last_line(&done.stderr)
        ));
    }
    Ok(ours)
}

pub fn resolve(run: &mut Run) -> anyhow::Result<bool> {
    let family = run.control().then_some("6");
    let (hint, py_hint, hints) = match family {
        Some(_) => (" --family 6", ", AF_INET6", "one hint: IPv6 only"),
        None => ("", "", "no hints"),
    };
    run.step(
        &format!("netlab resolve 127.0.0.1{hint}: getaddrinfo with {hints}"),
        "one address: how many results?",
    );
    let numeric = lookup(run, "127.0.0.1", family)?;
    run.step(
        &format!("netlab resolve localhost{hint}: a name, which getaddrinfo looks up (in /etc/hosts on most systems)"),
        "which addresses has localhost here?",
    );
    let name = lookup(run, "localhost", family)?;
    run.step(
        "the same questions to Python's socket.getaddrinfo",
        "will the lists match line for line?",
    );
    let fam = if family.is_some() { "10" } else { "0" };
    let reference = python(GETADDRINFO, &[fam, "127.0.0.1", "localhost"])?;
    let mut same = true;
    for (host, ours) in [("127.0.0.1", &numeric), ("localhost", &name)] {
        let theirs: Vec<&str> = reference
            .lines()
            .filter_map(|l| l.strip_prefix(host)?.strip_prefix(' '))
            .collect();
        let agree = theirs.iter().copied().eq(ours.iter().map(String::as_str));
        same &= agree;
        let verb = if agree { "the same list" } else { "a different list" };
        run.observe(
            &format!("Python's socket.getaddrinfo('{host}', None{py_hint}): {}, {verb}", count(theirs.len(), "result", "results")),
            json!({"source": "Python's socket.getaddrinfo", "name": host, "python": theirs, "netlab": ours, "same": agree}),
        );
    }
    let kinds: Vec<&str> = numeric.iter().filter_map(|l| l.split(' ').nth(1)).collect();
    Ok(run.judge(
        same && kinds == ["SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW"],
        &format!("{} for 127.0.0.1 {kinds:?}", count(numeric.len(), "result", "results")),
        "with no hints getaddrinfo gives one result per socket type, exactly the list Python's socket.getaddrinfo returns",
        "three, stream, datagram and raw, as Python lists them",
    ))
}

const STRUCT_PACK: &str = "import struct, sys
for f in '<>!':
    print(struct.pack(f + 'i', int(sys.argv[1])).hex(' '))
print(sys.byteorder)
";

pub fn byte_order(run: &mut Run) -> anyhow::Result<bool> {
    // The control's 0x04d2d204 reads the same from both ends: no order can be seen in it.
    let value: i32 = if run.control() { 0x04d2_d204 } else { 1234 };
    let v = value.to_string();
    run.step(
        &format!("netlab byteorder {v}: the four bytes of {v} (0x{value:08x}) in each order"),
        "which byte comes first in memory on this machine?",
    );
    let done = netlab(run, "byteorder", &[&v], b"")?;
    let names = ["little-endian", "big-endian", "network"];
    let row = |name: &str| -> String {
        let line = done.stdout.lines().find(|l| l.starts_with(name)).unwrap_or("");
        line.split_whitespace().skip(1).collect::<Vec<_>>().join(" ")
    };
    let ours = names.map(row);
    for (name, bytes) in names.iter().zip(&ours) {
        run.say(&format!("netlab byteorder: {name:14} {bytes}"));
    }
    run.step(
        "the same with Python's struct.pack('<i'), ('>i'), ('!i'), and this machine's own order",
        "does network order equal one of the other two?",
    );
    let out = python(STRUCT_PACK, &[&v])?;
    let theirs: Vec<&str> = out.lines().collect();
    let packed = theirs.iter().take(3).copied().collect::<Vec<_>>().join(" | ");
    let says = theirs.get(3).copied().unwrap_or("?");
    run.observe(
        &format!("Python's struct.pack: {packed}; sys.byteorder says {says}"),
        json!({"source": "Python's struct.pack", "python": theirs, "netlab": ours}),
    );
    let native = hex(&value.to_ne_bytes());
    let [le, be, net] = &ours;
    let machine = if native == *le { "little" } else { "big" };
    run.observe(
        &format!("this program's memory holds {v} as {native}: the machine is {machine}-endian"),
        json!({"native": native, "endian": machine}),
    );
    let same = theirs.iter().take(3).copied().eq(ours.iter().map(String::as_str));
    let ok = same && says == machine && le != be && net == be;
    Ok(run.judge(
        ok,
        &format!("little-endian {le}, big-endian {be}, network {net}"),
        "the same integer is four bytes in opposite orders; network order is big-endian; Python agrees byte for byte",
        "two different orders, network equal to big-endian",
    ))
}
