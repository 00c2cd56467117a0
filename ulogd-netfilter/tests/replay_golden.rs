//! REPLAY of the golden NFLOG capture through the real engine: every NFLOG key of
//! every packet must equal what ulogd2 2.0.8 printed for the same packet (GPRINT),
//! in ulogd2's key order. Times: exact for packets with a kernel timestamp (input
//! hook, except TCP whose skb had no receive time: the kernel stamped it per group,
//! microseconds apart); within a few milliseconds for the others (ulogd2 stamped them
//! when it read them, the replay uses the capture's record time).

use ulogd_core::testing::{collect_sink, OwnedValue};
use ulogd_core::Registry;

const PCAP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/golden-basic/nflog.pcap"
);
const GPRINT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/golden-basic/ulogd2.gprint"
));

/// Tolerance for packets stamped by the reader, in microseconds.
const TOLERANCE_US: i64 = 5_000;
/// Tolerance for input-hook packets whose skb had no receive time: the kernel stamps
/// those when it logs them, once per group, so groups differ by microseconds.
const KERNEL_TOLERANCE_US: i64 = 100;

/// NFLOG's keys of one GPRINT line, in order (IFINDEX's `oob.in`/`oob.out` and
/// BASE's second `oob.protocol` left out).
fn golden_nflog_keys(line: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for kv in line.split(',') {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        let nflog = k.starts_with("raw.") || k.starts_with("oob.");
        if !nflog || k == "oob.in" || k == "oob.out" || out.iter().any(|(n, _)| n == k) {
            continue;
        }
        out.push((k.to_string(), v.to_string()));
    }
    out
}

fn text(v: &OwnedValue) -> Option<String> {
    match v {
        OwnedValue::Uint(x) => Some(x.to_string()),
        OwnedValue::Int(x) => Some(x.to_string()),
        OwnedValue::Bool(x) => Some(u8::from(*x).to_string()),
        OwnedValue::Addr(a) => Some(a.to_string()),
        OwnedValue::Bytes(_) => None,
    }
}

fn time_us(keys: &[(String, String)]) -> i64 {
    let get = |n: &str| -> i64 {
        keys.iter()
            .find(|(k, _)| k == n)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(-1)
    };
    get("oob.time.sec") * 1_000_000 + get("oob.time.usec")
}

#[test]
fn replay_matches_ulogd2_gprint() {
    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    let (spec, seen) = collect_sink("COLLECT");
    reg.add(spec);
    let report = ulogd_core::testing::run(
        &reg,
        "r:REPLAY,out:COLLECT",
        &format!("[r]\nfile=\"{PCAP}\"\n"),
        2,
    )
    .expect("replay runs to the end");
    let rows = seen.lock().unwrap().clone();
    assert_eq!(report.get("r", "replayed"), Some(20), "{report}");
    assert_eq!(report.get("r", "malformed"), Some(0), "{report}");
    assert_eq!(rows.len(), 20);

    // Our rows as GPRINT would print them: every set key but the raw-bytes ones.
    let ours: Vec<Vec<(String, String)>> = rows
        .iter()
        .map(|r| {
            for (k, v) in r {
                if k == "raw.pkt" {
                    let OwnedValue::Bytes(b) = v else {
                        panic!("raw.pkt is bytes")
                    };
                    let len = r.iter().find(|(k, _)| k == "raw.pktlen").unwrap();
                    assert_eq!(len.1, OwnedValue::Uint(b.len() as u64));
                }
            }
            r.iter()
                .filter_map(|(k, v)| match v {
                    OwnedValue::Bytes(b) if k == "oob.prefix" => {
                        Some((k.clone(), String::from_utf8_lossy(b).into_owned()))
                    }
                    v => text(v).map(|t| (k.clone(), t)),
                })
                .collect()
        })
        .collect();

    let mut used = vec![false; ours.len()];
    let mut exact_times = 0;
    for (ln, line) in GPRINT.lines().enumerate() {
        let want = golden_nflog_keys(line);
        let no_time = |v: &[(String, String)]| -> Vec<(String, String)> {
            v.iter()
                .filter(|(k, _)| !k.starts_with("oob.time."))
                .cloned()
                .collect()
        };
        let kernel_stamped = want.iter().any(|(k, v)| k == "oob.hook" && v == "1");
        // Rows arrive in kernel order, so the first unused match is the packet.
        let found = ours.iter().enumerate().position(|(i, got)| {
            !used[i]
                && no_time(got) == no_time(&want)
                && if kernel_stamped {
                    (time_us(got) - time_us(&want)).abs() <= KERNEL_TOLERANCE_US
                } else {
                    (time_us(got) - time_us(&want)).abs() <= TOLERANCE_US
                }
        });
        let Some(i) = found else {
            panic!(
                "golden line {} has no match.\nwant: {want:?}\nours:\n{}",
                ln + 1,
                ours.iter()
                    .map(|r| format!("{r:?}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        };
        used[i] = true;
        // Same keys in the same order (names compared with the times in place).
        let names = |v: &[(String, String)]| v.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        assert_eq!(names(&ours[i]), names(&want), "key order, line {}", ln + 1);
        if kernel_stamped && time_us(&ours[i]) == time_us(&want) {
            exact_times += 1;
        }
    }
    assert!(used.iter().all(|u| *u));
    // ICMP, ICMPv6 and UDP input packets carry the skb's receive time: the same in
    // every group, so equal to the microsecond.
    assert_eq!(
        exact_times, 9,
        "input-hook packets equal to the microsecond"
    );
}

#[test]
fn replay_sets_mac_keys_like_ulogd2() {
    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    let (spec, seen) = collect_sink("COLLECT");
    reg.add(spec);
    ulogd_core::testing::run(
        &reg,
        "r:REPLAY,out:COLLECT",
        &format!("[r]\nfile=\"{PCAP}\"\nnumeric_label=3\n"),
        0,
    )
    .unwrap();
    let rows = seen.lock().unwrap().clone();
    for r in &rows {
        let get = |n: &str| r.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(get("raw.label"), Some(OwnedValue::Uint(3)));
        assert_eq!(get("raw.pktcount"), Some(OwnedValue::Uint(1)));
        if get("oob.hook") == Some(OwnedValue::Uint(1)) {
            // Input hook: the Ethernet header of A's veth and its source address.
            let Some(OwnedValue::Bytes(mac)) = get("raw.mac") else {
                panic!("raw.mac: {r:?}")
            };
            assert_eq!(mac.len(), 14);
            assert_eq!(&mac[6..12], &[2, 0, 0, 0, 0, 0x0a]);
            assert_eq!(
                get("raw.mac.saddr"),
                Some(OwnedValue::Bytes(vec![2, 0, 0, 0, 0, 0x0a]))
            );
            assert_eq!(get("raw.type"), Some(OwnedValue::Uint(1)));
            assert_eq!(get("oob.ifindex_in"), Some(OwnedValue::Uint(2)));
            assert_eq!(get("oob.ifindex_out"), None);
        } else {
            assert_eq!(get("raw.mac"), None);
            assert_eq!(get("raw.type"), None);
            assert_eq!(get("oob.ifindex_in"), None);
            assert_eq!(get("oob.ifindex_out"), Some(OwnedValue::Uint(2)));
        }
        // uid/gid only where the kernel knew the socket (the TCP connection).
        let tcp = matches!(get("oob.prefix"), Some(OwnedValue::Bytes(p)) if p.ends_with(b"TCP "));
        if !tcp {
            assert_eq!(get("oob.uid"), None);
            assert_eq!(get("oob.gid"), None);
        }
        assert_eq!(get("oob.seq.local"), None);
        assert_eq!(get("oob.seq.global"), None);
    }
}

/// A classic pcap (microsecond, little-endian) of `linktype` with these records.
fn write_pcap(name: &str, linktype: u32, records: &[(u32, u32, Vec<u8>)]) -> std::path::PathBuf {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&linktype.to_le_bytes());
    for (sec, usec, data) in records {
        f.extend_from_slice(&sec.to_le_bytes());
        f.extend_from_slice(&usec.to_le_bytes());
        f.extend_from_slice(&(data.len() as u32).to_le_bytes());
        f.extend_from_slice(&(data.len() as u32).to_le_bytes());
        f.extend_from_slice(data);
    }
    let path = std::env::temp_dir().join(format!("ulogd-rs-{}-{name}.pcap", std::process::id()));
    std::fs::write(&path, f).unwrap();
    path
}

/// A minimal IPv4/UDP packet (20 + 8 bytes) or IPv6 header (40 bytes).
fn ip_packet(v6: bool) -> Vec<u8> {
    if v6 {
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[6] = 59; // no next header
        p
    } else {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[3] = 28;
        p[9] = 17;
        p
    }
}

fn replay_file(path: &std::path::Path, extra: &str) -> (Vec<Vec<(String, OwnedValue)>>, String) {
    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    let (spec, seen) = collect_sink("COLLECT");
    reg.add(spec);
    let report = ulogd_core::testing::run(
        &reg,
        "r:REPLAY,out:COLLECT",
        &format!("[r]\nfile=\"{}\"\n{extra}", path.display()),
        1,
    )
    .unwrap();
    let rows = seen.lock().unwrap().clone();
    (rows, report.to_string())
}

#[test]
fn replay_of_raw_ip_and_ethernet_captures() {
    let raw = write_pcap(
        "raw",
        101,
        &[
            (100, 5, ip_packet(false)),
            (101, 6, ip_packet(true)),
            (102, 7, vec![0x10, 0, 0]), // neither IPv4 nor IPv6: skipped
        ],
    );
    let (rows, report) = replay_file(&raw, "");
    std::fs::remove_file(&raw).unwrap();
    assert_eq!(rows.len(), 2, "{report}");
    assert!(report.contains("skipped=1"), "{report}");
    let names = |r: &Vec<(String, OwnedValue)>| {
        r.iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(
        names(&rows[0]),
        "raw.pkt,raw.pktlen,raw.pktcount,oob.time.sec,oob.time.usec,oob.mark,oob.family,oob.protocol,raw.label"
    );
    let get = |r: &Vec<(String, OwnedValue)>, n: &str| {
        r.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())
    };
    assert_eq!(get(&rows[0], "oob.family"), Some(OwnedValue::Uint(2)));
    assert_eq!(
        get(&rows[0], "oob.protocol"),
        Some(OwnedValue::Uint(0x0800))
    );
    assert_eq!(get(&rows[0], "raw.pktlen"), Some(OwnedValue::Uint(28)));
    assert_eq!(get(&rows[0], "oob.time.sec"), Some(OwnedValue::Uint(100)));
    assert_eq!(get(&rows[0], "oob.time.usec"), Some(OwnedValue::Uint(5)));
    assert_eq!(get(&rows[1], "oob.family"), Some(OwnedValue::Uint(10)));
    assert_eq!(
        get(&rows[1], "oob.protocol"),
        Some(OwnedValue::Uint(0x86dd))
    );
    assert_eq!(get(&rows[1], "oob.hook"), None);

    // Ethernet, one untagged and one 802.1Q-tagged frame.
    let mut untagged = vec![2, 0, 0, 0, 0, 0x0b, 2, 0, 0, 0, 0, 0x0a, 0x08, 0x00];
    untagged.extend(ip_packet(false));
    let mut tagged = vec![
        2, 0, 0, 0, 0, 0x0b, 2, 0, 0, 0, 0, 0x0a, 0x81, 0x00, 0, 5, 0x86, 0xdd,
    ];
    tagged.extend(ip_packet(true));
    let eth = write_pcap(
        "eth",
        1,
        &[(1, 0, untagged), (2, 0, tagged), (3, 0, vec![1, 2, 3])],
    );
    let (rows, report) = replay_file(&eth, "");
    std::fs::remove_file(&eth).unwrap();
    assert_eq!(rows.len(), 2, "{report}");
    assert_eq!(get(&rows[0], "raw.mac_len"), Some(OwnedValue::Uint(14)));
    assert_eq!(get(&rows[0], "raw.type"), Some(OwnedValue::Uint(1)));
    assert_eq!(get(&rows[0], "raw.pktlen"), Some(OwnedValue::Uint(28)));
    assert_eq!(get(&rows[1], "raw.mac_len"), Some(OwnedValue::Uint(18)));
    assert_eq!(get(&rows[1], "raw.pktlen"), Some(OwnedValue::Uint(40)));
    assert_eq!(
        get(&rows[1], "oob.protocol"),
        Some(OwnedValue::Uint(0x86dd))
    );
}

#[test]
fn replay_survives_a_truncated_file() {
    let data = std::fs::read(PCAP).unwrap();
    let path = std::env::temp_dir().join(format!("ulogd-rs-{}-trunc.pcap", std::process::id()));
    // Cut inside the 6th record.
    std::fs::write(&path, &data[..data.len() * 3 / 10]).unwrap();
    let (rows, report) = replay_file(&path, "");
    std::fs::remove_file(&path).unwrap();
    assert!(!rows.is_empty() && rows.len() < 20, "{report}");
    assert!(report.contains("malformed=1"), "{report}");
}

#[test]
fn replay_paces_at_speed() {
    // Records 0.25 s apart by capture time: at speed 5 the replay takes ~150 ms.
    let recs: Vec<_> = (0..4)
        .map(|i| (1000, i * 250_000, ip_packet(false)))
        .collect();
    let path = write_pcap("paced", 101, &recs);
    let t = std::time::Instant::now();
    let (rows, report) = replay_file(&path, "speed=5\n");
    let took = t.elapsed();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(rows.len(), 4, "{report}");
    assert!(
        took >= std::time::Duration::from_millis(140) && took < std::time::Duration::from_secs(3),
        "{took:?}"
    );
}

#[test]
fn replay_loops_until_stopped() {
    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    let (spec, seen) = collect_sink("COLLECT");
    reg.add(spec);
    let conf = format!(
        "[global]\nlogfile=\"stdout\"\nthreads=1\nstack=r:REPLAY,out:COLLECT\n[r]\nfile=\"{PCAP}\"\nloop=1\n"
    );
    let engine = ulogd_core::Engine::from_str(&reg, "loop.conf", &conf).unwrap();
    let h = engine.handle();
    let t = std::thread::spawn(move || engine.run().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while seen.lock().unwrap().len() < 100 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    h.stop();
    let report = t.join().unwrap();
    assert!(report.get("r", "passes").unwrap() >= 5, "{report}");
}
